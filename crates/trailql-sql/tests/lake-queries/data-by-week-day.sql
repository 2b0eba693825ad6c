-- Source: https://github.com/aws-samples/cloud-trail-lake-query-samples/blob/bf9dafca6cd8c8d089dd41e4886eedb71144f62e/data-by-week-day.sql
-- (MIT-0). The statement below is as published.
/* This query shows counts of all Data events by Day of the Week. 
Replace <EDS ID> with your Event Data Store Id number.
*/

SELECT
    day_of_week(eventTime
    ) as weekday,  COUNT(*
    ) as eventCount
FROM
    $EDS_ID
WHERE
    eventTime > '2022-01-01 00:00:00' 
    AND eventTime < '2022-01-01 00:00:00' 
    AND eventCategory = 'Data'
GROUP
    BY day_of_week(eventTime
    )ORDER BY day_of_week(eventTime
    )
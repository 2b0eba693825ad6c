-- Source: https://github.com/aws-samples/cloud-trail-lake-query-samples/blob/bf9dafca6cd8c8d089dd41e4886eedb71144f62e/dynamodb-scan-operations.sql
-- (MIT-0). The statement below is as published.
/* This query returns raw records for all "scan" DunamoDB management events.
Replace <EDS ID> with your Event Data Store Id number.
*/

SELECT
    *
FROM
    $EDS_ID 
WHERE
    eventsource = 'dynamodb.amazonaws.com'  
    AND eventname = 'scan'
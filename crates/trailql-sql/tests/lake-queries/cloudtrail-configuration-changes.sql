-- Source: https://github.com/aws-samples/cloud-trail-lake-query-samples/blob/bf9dafca6cd8c8d089dd41e4886eedb71144f62e/cloudtrail-configuration-changes.sql
-- (MIT-0). The statement below is as published.
/* This query modifications to CloudTrail trails.
Replace <EDS ID> with your Event Data Store Id number.
*/


SELECT
    eventName, element_at(requestParameters,'name' 
    ), userIdentity.principalid, eventTime
FROM
    $EDS_ID 
WHERE
    eventTime > '2022-01-01 00:00:00'  
    AND eventTime < '2022-01-01 00:00:00'  
    AND ( eventName = 'CreateTrail'  
        or eventName = 'UpdateTrail'  
        or eventName = 'DeleteTrail'  
        or eventName = 'StartLogging'  
        or eventName = 'StopLogging'  
    )
-- Source: https://github.com/aws-samples/cloud-trail-lake-query-samples/blob/bf9dafca6cd8c8d089dd41e4886eedb71144f62e/database-reboot-information.sql
-- (MIT-0). The statement below is as published.
/* This query results are a list in chronological order of DB reboots that have occured
Replace <EDS ID> with your Event Data Store Id number.
*/


SELECT
    element_at(requestParameters, 'dBInstanceIdentifier'  
    ) as DBInstance, userIdentity.sessionContext.sessionIssuer.userName as UserName, eventTime as RebootTime
FROM
    $EDS_ID 
WHERE
    eventName = 'RebootDBInstance'ORDER BY eventTime DESC
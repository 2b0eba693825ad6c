-- Source: https://github.com/aws-samples/cloud-trail-lake-query-samples/blob/bf9dafca6cd8c8d089dd41e4886eedb71144f62e/db-cluster-point-in-time-restore.sql
-- (MIT-0). The statement below is as published.
/* This query returns source and target of an RDS point in time restore
Replace <EDS ID> with your Event Data Store Id number.
*/

SELECT
    element_at(requestParameters, 'sourceDBClusterIdentifier' 
    ) as Source, element_at(requestParameters, 'dBClusterIdentifier' 
    ) as Target, userIdentity.sessionContext.sessionIssuer.userName as UserName, eventTime as RestoreTime
FROM
    $EDS_ID 
WHERE
    eventName = 'RestoreDBClusterToPointInTime'
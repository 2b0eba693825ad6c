-- Source: https://github.com/aws-samples/cloud-trail-lake-query-samples/blob/bf9dafca6cd8c8d089dd41e4886eedb71144f62e/rds-db-deleted-with-no-snapshot.sql
-- (MIT-0). The statement below is as published.
/* This query returns details when a RDS DB was deleted without taking final snapshot.
Replace <EDS ID> with your Event Data Store Id number.
*/


SELECT
    element_at(requestParameters, 'dBClusterIdentifier' 
    ) as DBCluster, userIdentity.sessionContext.sessionIssuer.userName as UserName, eventTime as DeletedTime
FROM
    $EDS_ID 
WHERE
    eventName = 'DeleteDBCluster'  
    and element_at(requestParameters, 'skipFinalSnapshot' 
    ) = 'true'
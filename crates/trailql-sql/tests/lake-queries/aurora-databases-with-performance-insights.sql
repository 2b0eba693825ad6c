-- Source: https://github.com/aws-samples/cloud-trail-lake-query-samples/blob/bf9dafca6cd8c8d089dd41e4886eedb71144f62e/aurora-databases-with-performance-insights.sql
-- (MIT-0). The statement below is as published.
/* This query returns Aurora Postgresql DB instances that have performance insights enabled
Replace <EDS ID> with your Event Data Store Id number.
*/

SELECT
    element_at(requestParameters, 'dBInstanceIdentifier' 
    ) as DBInstance, element_at(requestParameters, 'engine' 
    ) as Engine, element_at(requestParameters, 'engineVersion' 
    ) as DBEngineVersion
FROM
    $EDS_ID 
WHERE
    element_at(requestParameters, 'engine' 
    ) = 'aurora-postgresql'  
    and eventname = 'CreateDBInstance' 
    and element_at(requestParameters, 'enablePerformanceInsights' 
    ) = 'true'
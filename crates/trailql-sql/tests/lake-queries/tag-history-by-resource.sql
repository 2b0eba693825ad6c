-- Source: https://github.com/aws-samples/cloud-trail-lake-query-samples/blob/bf9dafca6cd8c8d089dd41e4886eedb71144f62e/tag-history-by-resource.sql
-- (MIT-0). The statement below is as published.
/* This query returns tag history for resources.
Replace <EDS ID> with your Event Data Store Id number.
*/

SELECT
    awsRegion, eventSource, json_extract_scalar(eventjson, '$.requestParameters.resourcesSet.items[0].resourceId' 
    ) as resourceId, eventTime, eventName, json_extract_scalar(eventjson, '$.requestParameters.tagSet.items[0].key' 
    ) as key, json_extract_scalar(eventjson, '$.requestParameters.tagSet.items[0].value' 
    ) as value, useridentity.arn as identityarn 
from
    $EDS_ID 
where
    eventTime > '2022-01-01 00:00:00'  
    and eventName in ('CreateTags','DeleteTags' 
    )order by resourceId,key,eventTime desc
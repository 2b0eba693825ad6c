-- Source: https://github.com/aws-samples/cloud-trail-lake-query-samples/blob/bf9dafca6cd8c8d089dd41e4886eedb71144f62e/s3-buckets-using-acls.sql
-- (MIT-0). The statement below is as published.
/* This query identifies buckets across an Organization with requests that rely on ACLs. This can help when migrating away from legacy ACLs to IAM Policies.

Replace <EDS ID> with your Event Data Store ID number.
*/

SELECT DISTINCT
    element_at(requestParameters, 'bucketName') AS Bucket,
    awsRegion AS Region,
    recipientAccountId AS AccountID
FROM
    <EDS_ID> 
WHERE
    element_at(additionalEventData, 'aclRequired') = 'Yes'
ORDER BY
    recipientAccountId,
    awsRegion
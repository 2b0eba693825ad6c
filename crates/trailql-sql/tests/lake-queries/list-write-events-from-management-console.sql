-- Source: https://github.com/aws-samples/cloud-trail-lake-query-samples/blob/bf9dafca6cd8c8d089dd41e4886eedb71144f62e/list-write-events-from-management-console.sql
-- (MIT-0). The statement below is as published.
/* This query analyzes CloudTrail Events and identifies any calls that are made to AWS service APIs via the AWS Management Console.
Replace <EDS ID> with your Event Data Store Id number.
*/

SELECT
    userIdentity.arn,eventTime,eventSource,eventName,awsRegion,sourceIPAddress,userAgent,requestParameters,readOnly,recipientAccountId,sessionCredentialFromConsole
FROM
    <event-data-store-ID>
WHERE
    sessionCredentialFromConsole = true  
    AND readOnly = false  
    AND eventTime > '2022-01-01 00:00:00'  
    AND eventTime < '2022-01-01 00:00:00'
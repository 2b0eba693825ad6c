-- Source: https://github.com/aws-samples/cloud-trail-lake-query-samples/blob/bf9dafca6cd8c8d089dd41e4886eedb71144f62e/iam-idc-federate-api-by-idc-user.sql
-- (MIT-0). The statement below is as published.
/* 
This query helps to confirm in which AWS accounts the IAM Identify Center user has federated using which IAM roles during specific window time.
Replace <EDS ID> with your Event Data Store Id number and the IAM Identity Center user <alice@example.com>.
*/

SELECT element_at(serviceEventDetails, 'account_id') as AccountID, element_at(serviceEventDetails, 'role_name') as SSORole, eventID, eventTime
FROM <EDS ID>
WHERE eventSource = 'sso.amazonaws.com'
AND eventName = 'Federate'
AND userIdentity.username = 'alice@example.com'
AND eventTime > '2023-01-01 00:00:00' AND eventTime < '2023-01-07 00:00:00'

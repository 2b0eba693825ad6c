-- Source: https://github.com/aws-samples/cloud-trail-lake-query-samples/blob/bf9dafca6cd8c8d089dd41e4886eedb71144f62e/event-response-element-by-event-id.sql
-- (MIT-0). The statement below is as published.
/* 
This query obtain response element for a given CloudTrail event Id.
Replace <EDS ID> with your Event Data Store Id number and the CloudTrail event Id <3270e016-59a1-4448-8dd1-d27a4796502d>
*/

SELECT responseElements
FROM <EDS ID>
WHERE eventID = '3270e016-59a1-4448-8dd1-d27a4796502d';

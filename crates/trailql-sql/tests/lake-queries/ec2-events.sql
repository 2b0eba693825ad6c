-- Source: https://github.com/aws-samples/cloud-trail-lake-query-samples/blob/bf9dafca6cd8c8d089dd41e4886eedb71144f62e/ec2-events.sql
-- (MIT-0). The statement below is as published.
/* This query lists raw records for all EC2 management events.
Replace <EDS ID> with your Event Data Store Id number.
*/

SELECT
    *
FROM
    $EDS_ID 
WHERE
    eventname IN ('AssociateAddress', 'DisassociateAddress', 'CancelReservedInstancesListing', 'CancelSpotInstanceRequests', 'CreateNetworkAcl', 'DeleteNetworkAcl', 'CreateNetworkAclEntry', '''CreateVpc' , 'DeleteVpcPeeringConnection', 'RevokeSecurityGroupIngress' , 'RevokeSecurityGroupEgress', 'DetachInternetGateway', 'PurchaseReservedInstancesOffering', 'ModifyReservedInstances', 'AcceptVpcPeeringConnection', 'RejectVpcPeeringConnection' , 'CreateVpcPeeringConnection' 
    )
DROP TABLE oidc_token_used;
DROP TABLE trusted_publisher;

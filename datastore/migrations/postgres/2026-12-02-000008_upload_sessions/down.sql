DROP TABLE upload_session;

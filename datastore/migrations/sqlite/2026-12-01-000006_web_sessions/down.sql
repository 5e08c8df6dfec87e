DROP TABLE login_failure;
DROP TABLE web_session;

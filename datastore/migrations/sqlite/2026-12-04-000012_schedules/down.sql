DROP TABLE schedule;

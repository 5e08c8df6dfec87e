DROP TABLE task_blob;

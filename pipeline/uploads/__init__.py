"""Bulk CSV upload of student accounts: one `bulk_upload_jobs` row, one file.

rows.py reads and checks the file (pure); importer.py runs the job.

The file
--------
UTF-8 text (a leading byte-order mark, as Excel writes, is fine), comma-separated, with
RFC 4180 quoting ("Smith, Jr." and "" for a quote inside quotes). The first line is a
header naming the columns, in any order and any letter case:

    column        required  rule
    email         yes       an ASCII address (local@domain.tld), at most 254 characters;
                            stored lower-cased; unique within the file and among all users
    first_name    yes       1 to 100 characters
    last_name     yes       1 to 100 characters
    grade_level   yes       a whole number from 9 to 12
    student_id    no        the district's own student id, at most 50 characters
    class_id      no        a class of the job's school (classes.id); the student is enrolled

    email,first_name,last_name,grade_level,student_id,class_id
    ada@school.example,Ada,Lovelace,10,S-1001,class_abc123
    alan@school.example,Alan,Turing,11,,

Other columns are ignored. Blank lines, and lines of only commas, are skipped and not
counted. The file may be at most 5 MiB (MAX_FILE_BYTES).

Row numbers: the `row` of an error is the 1-based number of the data record, header not
counted (skipped blank lines are counted, so for a file without line breaks inside quotes
row n is line n + 1 in a text editor, and row n + 1 in a spreadsheet).

Where the file is: `file_path` holds a storage location (`file:///…` or `gs://bucket/…`)
read through the worker's ObjectStorage. A bare key such as `uploads/x.csv` is taken
relative to the root of that storage (STORAGE_URL's directory or bucket).

What happens
------------
The job is claimed queued -> processing (`started_at` set); a job in any other status is
left alone, except a `processing` job whose run started more than STALE_CLAIM ago (its
worker died), which is taken over and run again from the start. Rows are checked and
imported in order, BATCH_ROWS per transaction and each row in its own savepoint, so one
bad row never costs the others. Every bad row becomes `{"row": n, "error": "..."}` in
`error_log`; the job ends `completed` with its counts even if every row failed. It ends
`failed`, with the single entry `{"row": 0, "error": "..."}`, only when the file itself is
unusable: missing, too large, not UTF-8, empty, without the required header, or without
any data row. Either way one `audit_logs` row records the outcome.

Users created here are students of the job's school with `email_verified` false and a
password hash no login accepts (PASSWORD_MARKER): they set a password through the usual
reset flow. `users.metadata.bulk_upload_job_id` names the job, so a re-run of a job that
died part-way counts the rows it already imported as imported, not as duplicates.

Error texts never quote the file's values (no e-mails or names), and logs carry only ids
and counts.
"""

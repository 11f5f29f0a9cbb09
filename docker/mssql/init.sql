-- The records system stand-in: the stops table diversion-sync extracts from (columns as in
-- config/scheme.yaml records_system.columns). Run once by the records-system-init service.
IF DB_ID(N'records') IS NULL CREATE DATABASE records;
GO
USE records;
GO
IF OBJECT_ID(N'dbo.stop_record', N'U') IS NULL
CREATE TABLE dbo.stop_record (
    STOP_REF          NVARCHAR(40)  NOT NULL PRIMARY KEY,
    STOP_DATETIME     DATETIME2(6)  NULL,
    LPA_NAME          NVARCHAR(100) NULL,
    PERSON_ID         NVARCHAR(40)  NULL,
    PNC_ID            NVARCHAR(20)  NULL,
    FORENAME          NVARCHAR(100) NULL,
    SURNAME           NVARCHAR(100) NULL,
    DOB               DATE          NULL,
    GENDER            NVARCHAR(20)  NULL,
    HOME_POSTCODE     NVARCHAR(10)  NULL,
    SEARCH_TYPE       NVARCHAR(60)  NULL,
    AGE_RANGE         NVARCHAR(20)  NULL,
    LEGISLATION       NVARCHAR(200) NULL,
    OBJECT_OF_SEARCH  NVARCHAR(100) NULL,
    OUTCOME           NVARCHAR(200) NULL,
    DRUG_NAME         NVARCHAR(100) NULL,
    DRUG_CLASS        NVARCHAR(10)  NULL,
    QUANTITY          DECIMAL(12,3) NULL,
    QUANTITY_UNIT     NVARCHAR(20)  NULL,
    OFFENCE           NVARCHAR(200) NULL,
    OFFICER_ACTION    NVARCHAR(200) NULL,
    LAST_MODIFIED     DATETIME2(6)  NOT NULL
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'ix_stop_time')
    CREATE INDEX ix_stop_time ON dbo.stop_record (STOP_DATETIME);
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'ix_modified')
    CREATE INDEX ix_modified ON dbo.stop_record (LAST_MODIFIED);
GO
-- The pipeline reads with its own login, SELECT on the stops table only ($(READER_PASSWORD) from sqlcmd -v).
IF SUSER_ID(N'diversion_reader') IS NULL
    CREATE LOGIN diversion_reader WITH PASSWORD = N'$(READER_PASSWORD)', CHECK_POLICY = OFF;
GO
IF USER_ID(N'diversion_reader') IS NULL
    CREATE USER diversion_reader FOR LOGIN diversion_reader;
GRANT SELECT ON dbo.stop_record TO diversion_reader;
GO

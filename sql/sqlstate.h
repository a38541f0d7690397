/*
** SQLSTATE mapping for the SQL front end.
**
** Modules in sql/ report errors through the project-wide syn_err (a SYN_E*
** code plus a message). A PostgreSQL client needs more: the five-character
** SQLSTATE. Rather than widen syn_err, an SQL error carries its SQLSTATE as
** the first five characters of the message, followed by ": " and the text
** the client should see:
**
**     "22P02: invalid input syntax for type integer: \"abc\""
**
** sqlst_set() writes that form; sqlst_split() takes it apart again (also
** after syn_err_wrap() has prefixed context, and for errors that crossed an
** RPC as plain text). An error without an embedded SQLSTATE is mapped from
** its SYN_E* code, so every failure has some SQLSTATE to send.
*/
#ifndef SYN_SQL_SQLSTATE_H
#define SYN_SQL_SQLSTATE_H

#include "common/err.h"

typedef enum {
  SQLST_SYNTAX,             /* 42601 syntax_error */
  SQLST_UNDEFINED_TABLE,    /* 42P01 */
  SQLST_UNDEFINED_COLUMN,   /* 42703 */
  SQLST_UNDEFINED_OBJECT,   /* 42704 (unknown type, index) */
  SQLST_UNDEFINED_FUNCTION, /* 42883 */
  SQLST_AMBIGUOUS_COLUMN,   /* 42702 */
  SQLST_DUPLICATE_TABLE,    /* 42P07 (tables and indexes) */
  SQLST_DUPLICATE_COLUMN,   /* 42701 */
  SQLST_DUPLICATE_ALIAS,    /* 42712 */
  SQLST_INVALID_TABLE_DEF,  /* 42P16 */
  SQLST_DATATYPE_MISMATCH,  /* 42804 */
  SQLST_INVALID_COLUMN_REF, /* 42P10 */
  SQLST_FEATURE,            /* 0A000 feature_not_supported */
  SQLST_INVALID_TEXT,       /* 22P02 invalid_text_representation */
  SQLST_NUMERIC_RANGE,      /* 22003 numeric_value_out_of_range */
  SQLST_STRING_TOO_LONG,    /* 22001 string_data_right_truncation */
  SQLST_DATETIME_FORMAT,    /* 22007 invalid_datetime_format */
  SQLST_DATETIME_RANGE,     /* 22008 datetime_field_overflow */
  SQLST_DIVISION_BY_ZERO,   /* 22012 */
  SQLST_INVALID_PARAM,      /* 22023 invalid_parameter_value */
  SQLST_NOT_NULL,           /* 23502 not_null_violation */
  SQLST_UNIQUE,             /* 23505 unique_violation */
  SQLST_SERIALIZATION,      /* 40001 serialization_failure */
  SQLST_DEADLOCK,           /* 40P01 deadlock_detected */
  SQLST_COMPLETION_UNKNOWN, /* 40003 statement_completion_unknown */
  SQLST_IN_FAILED_TXN,      /* 25P02 in_failed_sql_transaction */
  SQLST_OUT_OF_MEMORY,      /* 53200 */
  SQLST_INTERNAL,           /* XX000 internal_error */
  SQLST__COUNT
} sqlst_kind;

/* The five-character SQLSTATE of a kind. */
const char *sqlst_code(sqlst_kind k);

/* The SYN_E* status a kind is returned as (e.g. SQLST_FEATURE ->
** SYN_EUNSUPPORTED, SQLST_UNDEFINED_TABLE -> SYN_ENOTFOUND). */
int sqlst_status(sqlst_kind k);

/* Fill e with "<SQLSTATE>: <message>" and return sqlst_status(k). */
int sqlst_set(syn_err *e, sqlst_kind k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Split an error into SQLSTATE (6 bytes incl. NUL, written to state) and
** the client-visible message (a pointer into e->msg). Errors without an
** embedded SQLSTATE get one derived from e->code and the whole message. */
void sqlst_split(const syn_err *e, char state[6], const char **message);

#endif /* SYN_SQL_SQLSTATE_H */

/*
** A single SQL value as it crosses module boundaries (SQL engine <-> RPC <->
** participant store). The storage classes are SQLite's, because both ends
** execute on SQLite; the declared PostgreSQL type of a column lives in the
** catalog and is enforced by the SQL layer before a value gets here.
**
** Text and blob payloads are borrowed: a syn_value never owns memory. Whoever
** builds an array of them says in its API how long the bytes stay valid.
*/
#ifndef SYN_VALUE_H
#define SYN_VALUE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  SYN_V_NULL = 0,
  SYN_V_INT = 1,   /* int64: integers and booleans (0/1) */
  SYN_V_REAL = 2,  /* IEEE double */
  SYN_V_TEXT = 3,  /* UTF-8 bytes, not NUL-terminated necessarily */
  SYN_V_BLOB = 4,  /* raw bytes (bytea) */
} syn_vtype;

typedef struct syn_value {
  syn_vtype type;
  union {
    int64_t i;
    double r;
    struct {
      const uint8_t *p;
      size_t n;
    } b; /* TEXT and BLOB */
  } u;
} syn_value;

#endif /* SYN_VALUE_H */

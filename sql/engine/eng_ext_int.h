/*
** internal to sql/engine: the structures of the extended query protocol
** shared by eng_ext.c (prepared statements, Parse/Bind/Describe/Close,
** the entry points) and eng_ext_exec.c (Execute and its output wrapper).
** See eng_ext.c for the design.
*/
#ifndef SYN_ENG_EXT_INT_H
#define SYN_ENG_EXT_INT_H

#include "sql/engine/eng_int.h"

struct eng_pstmt {
  eng_pstmt *next;
  char *name;
  int refs;              /* 1 while listed, plus one per portal */
  char *sql;
  sqlp_list *parsed;     /* n == 0 (empty query) or 1 */
  const sqlp_stmt *st;   /* NULL for an empty query */
  bool data;             /* SELECT/INSERT/UPDATE/DELETE: q is set */
  sqlr_query *q;
  uint64_t cat_version;  /* catalog q was rewritten against */
  bool stale;            /* the connection changed: q->target may dangle */
  int nparams;
  uint32_t *ptypes;      /* as reported and used to decode Bind values */
  int ngiven;            /* of them, given by the client in Parse */
  int ncols;             /* result shape fixed at Parse */
  uint32_t *col_oids;
};

enum { P_NEW, P_STREAM, P_BUFFERED, P_DONE };

struct eng_portal {
  eng_portal *next;
  char *name;
  eng_pstmt *ps;
  uint64_t txn_seq;
  eng_row params;
  int nfmts;
  int16_t *fmts;         /* one per result column */
  int state;
  sqlite3_stmt *st;      /* P_STREAM */
  bool broken;           /* st was finalized under it (catalog change) */
  eng_rows rows;         /* P_BUFFERED: text cells as TEXT/NULL values */
  size_t next_row;
  int ncols;             /* of the rows, with their types */
  uint32_t *oids;
  char tag[64];
};

/* ---- output wrapper ------------------------------------------------------
** Execute sends no RowDescription (the client has it from Describe), and
** each column goes in the format Bind asked for. The wrapper turns the
** engine's columns() into rows_begin, converts text cells to binary where
** asked, and, when capturing, keeps rows and the tag in the portal. */
typedef struct xout {
  eng_out out;
  const eng_out *base;
  eng_session *s;
  eng_portal *p;
  bool capture;
  bool completed;
  cat_buf conv;
  eng_cell *cells;
  int ncells;
} xout;

/* eng_ext.c */
eng_portal *eng__portal_find(eng_session *s, const char *name);
int eng__failed_block(eng_session *s, const sqlp_stmt *st, syn_err *e);
int eng__ps_revalidate(eng_session *s, eng_pstmt *ps, int *pos, syn_err *e);

/* eng_ext_exec.c */
void eng__xout_init(xout *x, eng_session *s, const eng_out *base);
void eng__xout_free(xout *x);
int16_t eng__col_format(const eng_portal *p, int i);
/* Send an empty-bodied reply ('1' '2' '3' 'n' 's'). */
int eng__ext_reply(eng_session *s, char type);
int eng__ext_execute(eng_session *s, xout *x, const eng_xmsg *m, uint32_t *pos, syn_err *e);

#endif /* SYN_ENG_EXT_INT_H */

/*
** internal to sql/engine: the COPY FROM STDIN input queue between the
** loop thread (which receives CopyData from pgwire) and the worker running
** the COPY (eng_exec.c). Bounded: the producer is told to pause reading
** above ENG_CINQ_HIGH bytes queued, and the consumer learns it should
** resume once the queue is below ENG_CINQ_LOW, so a client that sends
** faster than the cluster writes is held back by TCP, not by memory.
*/
#ifndef SYN_ENG_CINQ_H
#define SYN_ENG_CINQ_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#define ENG_CINQ_HIGH ((size_t)1024 * 1024)
#define ENG_CINQ_LOW ((size_t)256 * 1024)

typedef struct eng_cinq_item eng_cinq_item;

typedef struct eng_cinq {
  uv_mutex_t mu;
  uv_cond_t cv;
  eng_cinq_item *head, *tail;
  size_t bytes;
  bool paused; /* the producer was told to pause */
} eng_cinq;

int eng_cinq_init(eng_cinq *q);
void eng_cinq_destroy(eng_cinq *q); /* frees queued items */
/* Producer: queue one message (type 'd' 'c' 'f', bytes copied). Returns
** true when the producer should stop reading until told to resume. */
bool eng_cinq_push(eng_cinq *q, char type, const void *p, size_t n);
/* Consumer: wait for the next message, re-checking stop(ud) every 100 ms
** and after eng_cinq_wake. Returns 0 with *p malloc'd (NUL-terminated, *n
** bytes; the caller frees it) and *resume true when the producer should
** resume reading now; nonzero when stop(ud) said so or memory ran out. */
int eng_cinq_pop(eng_cinq *q, bool (*stop)(void *ud), void *ud, char *type, char **p,
                 size_t *n, bool *resume);
/* Wake a waiting consumer so it re-checks stop (a cancel). */
void eng_cinq_wake(eng_cinq *q);
/* Drop everything queued (the COPY is over). */
void eng_cinq_clear(eng_cinq *q);

#endif /* SYN_ENG_CINQ_H */

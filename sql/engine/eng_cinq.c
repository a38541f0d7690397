/*
** The COPY FROM STDIN input queue (eng_cinq.h). One mutex, one condition
** variable; items are single allocations (header then bytes).
*/
#include "sql/engine/eng_cinq.h"

#include <stdlib.h>
#include <string.h>

struct eng_cinq_item {
  eng_cinq_item *next;
  char type;
  size_t n;
  char data[];
};

int eng_cinq_init(eng_cinq *q) {
  memset(q, 0, sizeof *q);
  if (uv_mutex_init(&q->mu)) return -1;
  if (uv_cond_init(&q->cv)) {
    uv_mutex_destroy(&q->mu);
    return -1;
  }
  return 0;
}

void eng_cinq_clear(eng_cinq *q) {
  uv_mutex_lock(&q->mu);
  eng_cinq_item *it = q->head;
  q->head = q->tail = NULL;
  q->bytes = 0;
  q->paused = false;
  uv_mutex_unlock(&q->mu);
  for (eng_cinq_item *n; it; it = n) {
    n = it->next;
    free(it);
  }
}

void eng_cinq_destroy(eng_cinq *q) {
  eng_cinq_clear(q);
  uv_cond_destroy(&q->cv);
  uv_mutex_destroy(&q->mu);
}

bool eng_cinq_push(eng_cinq *q, char type, const void *p, size_t n) {
  eng_cinq_item *it = malloc(sizeof *it + n + 1);
  while (!it) {
    /* CopyDone/CopyFail must reach the worker: data cannot be dropped. */
    uv_sleep(10);
    it = malloc(sizeof *it + n + 1);
  }
  it->next = NULL;
  it->type = type;
  it->n = n;
  if (n) memcpy(it->data, p, n);
  it->data[n] = '\0';
  uv_mutex_lock(&q->mu);
  if (q->tail) q->tail->next = it;
  else q->head = it;
  q->tail = it;
  q->bytes += n;
  bool pause = q->bytes > ENG_CINQ_HIGH;
  if (pause) q->paused = true;
  uv_cond_signal(&q->cv);
  uv_mutex_unlock(&q->mu);
  return pause;
}

int eng_cinq_pop(eng_cinq *q, bool (*stop)(void *ud), void *ud, char *type, char **p,
                 size_t *n, bool *resume) {
  *resume = false;
  uv_mutex_lock(&q->mu);
  /* Bounded waits: statement_timeout must fire for a silent client. */
  while (!q->head && !stop(ud)) uv_cond_timedwait(&q->cv, &q->mu, (uint64_t)100 * 1000 * 1000);
  eng_cinq_item *it = q->head;
  if (it) {
    q->head = it->next;
    if (!q->head) q->tail = NULL;
    q->bytes -= it->n;
    if (q->paused && q->bytes < ENG_CINQ_LOW) {
      q->paused = false;
      *resume = true;
    }
  }
  uv_mutex_unlock(&q->mu);
  if (!it) return 1;
  char *out = malloc(it->n + 1);
  if (!out) {
    free(it);
    return 1;
  }
  memcpy(out, it->data, it->n + 1);
  *type = it->type;
  *p = out;
  *n = it->n;
  free(it);
  return 0;
}

void eng_cinq_wake(eng_cinq *q) {
  uv_mutex_lock(&q->mu);
  uv_cond_signal(&q->cv);
  uv_mutex_unlock(&q->mu);
}

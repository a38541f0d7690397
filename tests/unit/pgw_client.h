/* A blocking pgwire test client (pgw_client.c); tests only. */
#ifndef SYN_TEST_PGW_CLIENT_H
#define SYN_TEST_PGW_CLIENT_H

#include <stddef.h>
#include <stdint.h>

/* A socket connected to 127.0.0.1:port (10 s receive timeout), or -1. */
int cli_connect(int port);
/* Read one message; body is malloc'd (caller frees). -1 on EOF/error. */
int cli_read(int s, char *type, char **body, uint32_t *len);
void cli_send(int s, const void *p, size_t n);
/* Startup as user t, database d, until ReadyForQuery: the socket, -1 on
** EOF, -2 after an ErrorResponse. */
int cli_login(int port);

#endif

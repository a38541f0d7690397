/*
** CRC32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven.
** Used to checksum records in coordinator files (decision log). Written
** here rather than borrowed so the on-disk format depends on no library.
*/
#ifndef SYN_CRC32C_H
#define SYN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: pass crc = 0 to start. crc32c_update(0, "123456789", 9)
** is 0xE3069283 (the standard check value). */
uint32_t crc32c_update(uint32_t crc, const void *buf, size_t len);

#endif /* SYN_CRC32C_H */

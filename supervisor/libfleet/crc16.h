/* Private to libfleet: the checksum of NATS nkey text. */
#ifndef FLEET_CRC16_H
#define FLEET_CRC16_H

#include <stddef.h>
#include <stdint.h>

/* CRC-16/XMODEM (poly 0x1021, init 0, no reflection, no final xor) of
 * data[0..len). Branch-free per bit, so its timing does not depend on the
 * bytes: nkey seeds pass through it. */
uint16_t crc16_xmodem(const uint8_t *data, size_t len);

#endif

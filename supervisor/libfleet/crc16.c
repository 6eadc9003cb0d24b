/* CRC-16/XMODEM, as NATS appends it to every nkey (little-endian). */
#include "crc16.h"

uint16_t crc16_xmodem(const uint8_t *data, size_t len)
{
    uint16_t crc = 0;

    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (int bit = 0; bit < 8; bit++) {
            /* mask is 0xffff when the top bit is set, else 0: no branch. */
            uint16_t mask = (uint16_t)-(uint16_t)(crc >> 15);

            crc = (uint16_t)((uint16_t)(crc << 1) ^ (0x1021 & mask));
        }
    }
    return crc;
}

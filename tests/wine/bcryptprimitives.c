/* bcryptprimitives.dll for Wine 8.0, which lacks it.
 *
 * Rust's standard library (1.78 and later) gets its randomness from `ProcessPrng` in
 * bcryptprimitives.dll, which Windows 10 and later ship and Wine 8.0 does not, so every
 * Rust program fails to load under Debian 12's Wine. This DLL, placed beside the
 * executables under test, provides `ProcessPrng` through `RtlGenRandom`
 * (advapi32's SystemFunction036), which Wine implements with the host's randomness.
 * Test tooling only: it is never shipped. Built by scripts/build-windows.sh.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

/* Stub of the macOS SDK's TargetConditionals.h for scripts/check-macos.sh: the values for
 * macOS itself (ring's base.h reads TARGET_OS_OSX and TARGET_OS_IPHONE). Check-only. */
#ifndef TWG_CHECK_TARGET_CONDITIONALS_H
#define TWG_CHECK_TARGET_CONDITIONALS_H
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_TV 0
#define TARGET_OS_WATCH 0
#define TARGET_OS_VISION 0
#define TARGET_OS_SIMULATOR 0
#endif

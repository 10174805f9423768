// Symbol visibility: the library is built with hidden visibility, and only what carries OPTOUT_API
// is exported from the shared library.
#pragma once

#if defined(OPTOUT_STATIC_DEFINE)
#define OPTOUT_API
#else
#define OPTOUT_API __attribute__((visibility("default")))
#endif

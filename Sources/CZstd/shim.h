// The system libzstd (Debian: libzstd-dev), used by OCISchema1 to decompress zstd schema1 layers streaming.
#ifndef OCICLIENT_CZSTD_SHIM_H
#define OCICLIENT_CZSTD_SHIM_H

#include <zstd.h>
#include <zstd_errors.h>

#endif

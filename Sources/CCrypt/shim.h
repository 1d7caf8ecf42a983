// The system's crypt(3) (libxcrypt on Debian: bcrypt `$2y$`, SHA-crypt and the other hashes htpasswd writes).
#include <crypt.h>

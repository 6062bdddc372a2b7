// libpq, PostgreSQL's own client library: synchronous like FaceKit's store
// protocol, with COPY for bulk transfer of vectors.
#include <libpq-fe.h>

// libpq, PostgreSQL's own client library: synchronous like FaceKit's store
// protocol, with COPY for bulk transfer of vectors.
//
// Only its declarations come from here. The library is opened on first use
// (LibPQ in FaceKitStore, through fk_pq_bind), not linked: linked, it and the
// ~20 libraries it needs (Kerberos, LDAP, GnuTLS, ...) were loaded and
// relocated at the start of every facekit command, PostgreSQL or not (about
// 4 MB of memory each time).
#if __has_include(<postgresql/libpq-fe.h>)
#include <postgresql/libpq-fe.h>
#else
#include <libpq-fe.h>
#endif
#include <dlfcn.h>
#include <stddef.h>

// The functions FaceKit calls, by their libpq names without the PQ prefix.
typedef struct fk_pq {
    PGconn *_Nullable (*_Nonnull connectdb)(const char *_Nonnull conninfo);
    void (*_Nonnull finish)(PGconn *_Nonnull conn);
    ConnStatusType (*_Nonnull status)(const PGconn *_Nonnull conn);
    PGTransactionStatusType (*_Nonnull transactionStatus)(const PGconn *_Nonnull conn);
    char *_Nonnull (*_Nonnull errorMessage)(const PGconn *_Nonnull conn);
    PQnoticeProcessor _Nullable (*_Nonnull setNoticeProcessor)(PGconn *_Nonnull conn, PQnoticeProcessor _Nullable proc,
                                                               void *_Nullable arg);
    PGresult *_Nullable (*_Nonnull exec)(PGconn *_Nonnull conn, const char *_Nonnull query);
    PGresult *_Nullable (*_Nonnull execParams)(PGconn *_Nonnull conn, const char *_Nonnull command, int nParams,
                                               const Oid *_Nullable paramTypes, const char *_Nullable const *_Nullable paramValues,
                                               const int *_Nullable paramLengths, const int *_Nullable paramFormats, int resultFormat);
    PGresult *_Nullable (*_Nonnull getResult)(PGconn *_Nonnull conn);
    int (*_Nonnull putCopyData)(PGconn *_Nonnull conn, const char *_Nonnull buffer, int nbytes);
    int (*_Nonnull putCopyEnd)(PGconn *_Nonnull conn, const char *_Nullable errormsg);
    int (*_Nonnull getCopyData)(PGconn *_Nonnull conn, char *_Nullable *_Nonnull buffer, int async);
    ExecStatusType (*_Nonnull resultStatus)(const PGresult *_Nullable res);  // NULL: PGRES_FATAL_ERROR
    char *_Nonnull (*_Nonnull resultErrorMessage)(const PGresult *_Nonnull res);
    int (*_Nonnull ntuples)(const PGresult *_Nonnull res);
    int (*_Nonnull nfields)(const PGresult *_Nonnull res);
    char *_Nonnull (*_Nonnull cmdTuples)(PGresult *_Nonnull res);
    char *_Nonnull (*_Nonnull getvalue)(const PGresult *_Nonnull res, int tup_num, int field_num);
    int (*_Nonnull getisnull)(const PGresult *_Nonnull res, int tup_num, int field_num);
    void (*_Nonnull clear)(PGresult *_Nullable res);  // NULL: nothing
    void (*_Nonnull freemem)(void *_Nonnull ptr);
} fk_pq;

// The table from an opened libpq. *missing: NULL, or the first symbol the
// library lacks (the table is then not to be used).
static inline fk_pq fk_pq_bind(void *_Nonnull handle, const char *_Nullable *_Nonnull missing) {
    fk_pq api;
    *missing = NULL;
#define FK_PQ_BIND(field, name)                                   \
    if (!*missing && !(*(void **)&api.field = dlsym(handle, name))) \
        *missing = name;
    FK_PQ_BIND(connectdb, "PQconnectdb")
    FK_PQ_BIND(finish, "PQfinish")
    FK_PQ_BIND(status, "PQstatus")
    FK_PQ_BIND(transactionStatus, "PQtransactionStatus")
    FK_PQ_BIND(errorMessage, "PQerrorMessage")
    FK_PQ_BIND(setNoticeProcessor, "PQsetNoticeProcessor")
    FK_PQ_BIND(exec, "PQexec")
    FK_PQ_BIND(execParams, "PQexecParams")
    FK_PQ_BIND(getResult, "PQgetResult")
    FK_PQ_BIND(putCopyData, "PQputCopyData")
    FK_PQ_BIND(putCopyEnd, "PQputCopyEnd")
    FK_PQ_BIND(getCopyData, "PQgetCopyData")
    FK_PQ_BIND(resultStatus, "PQresultStatus")
    FK_PQ_BIND(resultErrorMessage, "PQresultErrorMessage")
    FK_PQ_BIND(ntuples, "PQntuples")
    FK_PQ_BIND(nfields, "PQnfields")
    FK_PQ_BIND(cmdTuples, "PQcmdTuples")
    FK_PQ_BIND(getvalue, "PQgetvalue")
    FK_PQ_BIND(getisnull, "PQgetisnull")
    FK_PQ_BIND(clear, "PQclear")
    FK_PQ_BIND(freemem, "PQfreemem")
#undef FK_PQ_BIND
    return api;
}

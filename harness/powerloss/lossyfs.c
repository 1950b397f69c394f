/* lossyfs: a passthrough FUSE filesystem that can forget every write that was never fsynced.
 *
 * Usage: lossyfs BACKING_DIR CONTROL_SOCKET WRITEBACK_MS MOUNTPOINT [fuse options]
 * (runs in foreground)
 *
 * Every write goes straight through to the backing file, so readers see it at once (page
 * cache semantics). Before the first write since the last fsync touches a block that was
 * already durable, the block's pre-image is saved in memory, together with the file's size
 * at its last fsync (the "undo record" of the inode). fsync / fdatasync (and every write on a
 * file opened O_SYNC / O_DSYNC) fsyncs the backing file and drops the record. A power loss
 * (the line "power-loss" on the control socket) writes every pre-image back and truncates
 * every file to its durable size, files created since and never fsynced to 0 bytes.
 * Metadata (create, mkdir, rename, unlink, link, chmod, chown) is durable at once: that is
 * more lenient than a real power loss, so a loss found through this layer is a real one.
 *
 * Writeback, as Linux's flusher does it (dirty_expire_centisecs): an inode first dirtied more
 * than WRITEBACK_MS ago is written back whole (its record dropped), checked every
 * min(WRITEBACK_MS / 2, 1000) ms; WRITEBACK_MS = 0 means never (only fsync makes data durable).
 *
 * Control socket protocol: one line in, one JSON line out.
 *   power-loss -> {"files": n, "blocks": n, "bytes_restored": n, "bytes_cut": n, "unlinked": n}
 *   status     -> {"files": n, "blocks": n, "bytes": n}   (what a power loss now would undo)
 *   sync       -> {"files": n}   (sync(2): everything written so far is durable)
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096

static int root_fd = -1;
static const char *control_path;
static long writeback_ms;

/* ---------------------------------------------------------------- undo records ---- */
struct saved {
    uint64_t block;
    uint32_t len;
    char *data;
};

struct record {
    uint64_t ino;
    int fd;               /* O_RDWR on the inode, to restore it even after a rename */
    off_t durable_size;   /* size at the last fsync (or when first touched since) */
    struct timespec dirtied; /* when the record was made: the inode's first dirtying */
    struct saved *blocks; /* open addressing on block number */
    size_t nblocks, cap;
    pthread_mutex_t lock;
    struct record *next;  /* hash chain */
};

#define NBUCKETS 4096
static struct record *buckets[NBUCKETS];
static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
/* data ops hold it shared; a power loss holds it exclusively */
static pthread_rwlock_t state_lock = PTHREAD_RWLOCK_INITIALIZER;

static size_t bucket_of(uint64_t ino) { return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 52); }

static struct saved *slot(struct record *r, uint64_t block) {
    size_t mask = r->cap - 1, i = (size_t)(block * 0x9E3779B97F4A7C15ull) & mask;
    while (r->blocks[i].data && r->blocks[i].block != block) i = (i + 1) & mask;
    return &r->blocks[i];
}

static int grow(struct record *r) {
    size_t oldcap = r->cap;
    struct saved *old = r->blocks;
    size_t cap = oldcap ? oldcap * 2 : 64;
    struct saved *nb = calloc(cap, sizeof *nb);
    if (!nb) return -ENOMEM;
    r->blocks = nb;
    r->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].data) *slot(r, old[i].block) = old[i];
    free(old);
    return 0;
}

static void free_record(struct record *r) {
    for (size_t i = 0; i < r->cap; i++) free(r->blocks[i].data);
    free(r->blocks);
    if (r->fd >= 0) close(r->fd);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* The record of the inode behind fd, created (durable size = current size) if absent. */
static struct record *get_record(int fd, uint64_t ino, int *err) {
    size_t b = bucket_of(ino);
    pthread_mutex_lock(&map_lock);
    struct record *r = buckets[b];
    while (r && r->ino != ino) r = r->next;
    if (!r) {
        struct stat st;
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        r = calloc(1, sizeof *r);
        int rfd = r ? open(proc, O_RDWR | O_CLOEXEC) : -1;
        if (!r || rfd < 0 || fstat(rfd, &st) < 0) {
            *err = r ? -errno : -ENOMEM;
            if (rfd >= 0) close(rfd);
            free(r);
            pthread_mutex_unlock(&map_lock);
            return NULL;
        }
        r->ino = ino;
        r->fd = rfd;
        r->durable_size = st.st_size;
        clock_gettime(CLOCK_MONOTONIC, &r->dirtied);
        pthread_mutex_init(&r->lock, NULL);
        r->next = buckets[b];
        buckets[b] = r;
    }
    pthread_mutex_unlock(&map_lock);
    return r;
}

static struct record *find_record(uint64_t ino) {
    pthread_mutex_lock(&map_lock);
    struct record *r = buckets[bucket_of(ino)];
    while (r && r->ino != ino) r = r->next;
    pthread_mutex_unlock(&map_lock);
    return r;
}

static void unlink_record(struct record *r) {
    pthread_mutex_lock(&map_lock);
    struct record **p = &buckets[bucket_of(r->ino)];
    while (*p && *p != r) p = &(*p)->next;
    if (*p) *p = r->next;
    pthread_mutex_unlock(&map_lock);
}

/* Save the pre-image of every durable block in [start, end) not saved yet (r->lock held). */
static int save_range(struct record *r, off_t start, off_t end) {
    if (start < 0) start = 0;
    if (end > r->durable_size) end = r->durable_size;
    for (off_t b = start / BLOCK; b * BLOCK < end; b++) {
        if ((r->nblocks + 1) * 2 > r->cap) {
            int e = grow(r);
            if (e) return e;
        }
        struct saved *s = slot(r, (uint64_t)b);
        if (s->data) continue;
        off_t at = b * BLOCK;
        uint32_t len = (uint32_t)(r->durable_size - at < BLOCK ? r->durable_size - at : BLOCK);
        char *data = calloc(1, len);
        if (!data) return -ENOMEM;
        ssize_t got = pread(r->fd, data, len, at); /* short: a hole past EOF reads as zeros */
        if (got < 0) {
            free(data);
            return -errno;
        }
        s->block = (uint64_t)b;
        s->len = len;
        s->data = data;
        r->nblocks++;
    }
    return 0;
}

/* fsync: the backing file too, then the inode's record is gone (its writes are durable). */
static int make_durable(int fd, uint64_t ino, int datasync) {
    struct record *r = find_record(ino);
    if (r) pthread_mutex_lock(&r->lock);
    int res = datasync ? fdatasync(fd) : fsync(fd);
    if (res < 0) res = -errno;
    if (r) {
        if (res == 0) unlink_record(r);
        pthread_mutex_unlock(&r->lock);
        if (res == 0) free_record(r);
    }
    return res;
}

/* ---------------------------------------------------------------- power loss -------- */
static void power_loss(char *out, size_t outlen) {
    uint64_t files = 0, blocks = 0, restored = 0, cut = 0, unlinked = 0, errors = 0;
    pthread_rwlock_wrlock(&state_lock);
    for (size_t b = 0; b < NBUCKETS; b++) {
        struct record *r = buckets[b];
        buckets[b] = NULL;
        while (r) {
            struct record *next = r->next;
            struct stat st;
            if (fstat(r->fd, &st) == 0 && st.st_nlink == 0) {
                unlinked++;
            } else {
                files++;
                for (size_t i = 0; i < r->cap; i++) {
                    struct saved *s = &r->blocks[i];
                    if (!s->data) continue;
                    if (pwrite(r->fd, s->data, s->len, (off_t)(s->block * BLOCK)) != s->len)
                        errors++;
                    blocks++;
                    restored += s->len;
                }
                if (st.st_size > r->durable_size) cut += (uint64_t)(st.st_size - r->durable_size);
                if (ftruncate(r->fd, r->durable_size) < 0) errors++;
                if (fsync(r->fd) < 0) errors++;
            }
            free_record(r);
            r = next;
        }
    }
    pthread_rwlock_unlock(&state_lock);
    snprintf(out, outlen,
             "{\"files\": %lu, \"blocks\": %lu, \"bytes_restored\": %lu, \"bytes_cut\": %lu, "
             "\"unlinked\": %lu, \"errors\": %lu}\n",
             files, blocks, restored, cut, unlinked, errors);
}

/* Every record (with older_than_ms >= 0: only those dirtied that long ago) made durable. */
static uint64_t write_back(long older_than_ms) {
    struct timespec now;
    uint64_t n = 0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_rwlock_wrlock(&state_lock);
    for (size_t b = 0; b < NBUCKETS; b++) {
        struct record **p = &buckets[b];
        while (*p) {
            struct record *r = *p;
            long age_ms = (now.tv_sec - r->dirtied.tv_sec) * 1000 +
                          (now.tv_nsec - r->dirtied.tv_nsec) / 1000000;
            if (older_than_ms < 0 || age_ms >= older_than_ms) {
                fdatasync(r->fd);
                *p = r->next;
                free_record(r);
                n++;
            } else {
                p = &r->next;
            }
        }
    }
    pthread_rwlock_unlock(&state_lock);
    return n;
}

static void *writeback_loop(void *arg) {
    (void)arg;
    long every = writeback_ms / 2 < 1000 ? writeback_ms / 2 : 1000;
    if (every < 10) every = 10;
    struct timespec t = {every / 1000, (every % 1000) * 1000000};
    for (;;) {
        nanosleep(&t, NULL);
        write_back(writeback_ms);
    }
    return NULL;
}

static void status(char *out, size_t outlen) {
    uint64_t files = 0, blocks = 0, bytes = 0;
    pthread_rwlock_wrlock(&state_lock);
    for (size_t b = 0; b < NBUCKETS; b++)
        for (struct record *r = buckets[b]; r; r = r->next) {
            struct stat st;
            files++;
            blocks += r->nblocks;
            for (size_t i = 0; i < r->cap; i++)
                if (r->blocks[i].data) bytes += r->blocks[i].len;
            if (fstat(r->fd, &st) == 0 && st.st_size > r->durable_size)
                bytes += (uint64_t)(st.st_size - r->durable_size);
        }
    pthread_rwlock_unlock(&state_lock);
    snprintf(out, outlen, "{\"files\": %lu, \"blocks\": %lu, \"bytes\": %lu}\n", files, blocks,
             bytes);
}

static void *control_loop(void *arg) {
    int ls = *(int *)arg;
    for (;;) {
        int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR) continue;
            return NULL;
        }
        char line[64] = {0}, out[512];
        ssize_t n = read(c, line, sizeof line - 1);
        if (n > 0 && strncmp(line, "power-loss", 10) == 0)
            power_loss(out, sizeof out);
        else if (n > 0 && strncmp(line, "status", 6) == 0)
            status(out, sizeof out);
        else if (n > 0 && strncmp(line, "sync", 4) == 0)
            snprintf(out, sizeof out, "{\"files\": %lu}\n", write_back(-1));
        else
            snprintf(out, sizeof out, "{\"error\": \"unknown command\"}\n");
        ssize_t w = write(c, out, strlen(out));
        (void)w;
        close(c);
    }
}

static int start_control(void) {
    static int ls;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(control_path) >= sizeof a.sun_path) return -ENAMETOOLONG;
    strcpy(a.sun_path, control_path);
    unlink(control_path);
    ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 8) < 0) return -errno;
    chmod(control_path, 0600);
    pthread_t t;
    if (pthread_create(&t, NULL, control_loop, &ls)) return -EAGAIN;
    pthread_detach(t);
    if (writeback_ms > 0) {
        if (pthread_create(&t, NULL, writeback_loop, NULL)) return -EAGAIN;
        pthread_detach(t);
    }
    return 0;
}

/* ---------------------------------------------------------------- FUSE ops ---------- */
struct fh {
    int fd;
    int flags;
    uint64_t ino;
};

#define FH(fi) ((struct fh *)(uintptr_t)(fi)->fh)

static const char *rel(const char *path) { return path[1] ? path + 1 : "."; }

static int owned(const char *path, int follow) {
    struct fuse_context *c = fuse_get_context();
    if (fchownat(root_fd, rel(path), c->uid, c->gid, follow ? 0 : AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    return 0;
}

static void *lf_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
    cfg->use_ino = 1;
    cfg->nullpath_ok = 1;
    cfg->hard_remove = 1; /* no .fuse_hidden files: ops on unlinked files use their fd */
    cfg->kernel_cache = 0; /* an open drops cached pages: a restart reads restored data */
    cfg->attr_timeout = 1;
    cfg->entry_timeout = 1;
    cfg->negative_timeout = 0;
    conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC; /* O_TRUNC arrives as truncate(): saved first */
    int e = start_control();
    if (e) {
        fprintf(stderr, "lossyfs: control socket %s: %s\n", control_path, strerror(-e));
        exit(1);
    }
    return NULL;
}

static int lf_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    int res = fi ? fstat(FH(fi)->fd, st) : fstatat(root_fd, rel(path), st, AT_SYMLINK_NOFOLLOW);
    return res < 0 ? -errno : 0;
}

static int lf_readlink(const char *path, char *buf, size_t size) {
    ssize_t n = readlinkat(root_fd, rel(path), buf, size - 1);
    if (n < 0) return -errno;
    buf[n] = 0;
    return 0;
}

static int lf_mknod(const char *path, mode_t mode, dev_t rdev) {
    if (mknodat(root_fd, rel(path), mode, rdev) < 0) return -errno;
    return owned(path, 0);
}

static int lf_mkdir(const char *path, mode_t mode) {
    if (mkdirat(root_fd, rel(path), mode) < 0) return -errno;
    return owned(path, 0);
}

static int lf_unlink(const char *path) {
    return unlinkat(root_fd, rel(path), 0) < 0 ? -errno : 0;
}

static int lf_rmdir(const char *path) {
    return unlinkat(root_fd, rel(path), AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int lf_symlink(const char *target, const char *path) {
    if (symlinkat(target, root_fd, rel(path)) < 0) return -errno;
    return owned(path, 0);
}

static int lf_rename(const char *from, const char *to, unsigned int flags) {
    return renameat2(root_fd, rel(from), root_fd, rel(to), flags) < 0 ? -errno : 0;
}

static int lf_link(const char *from, const char *to) {
    return linkat(root_fd, rel(from), root_fd, rel(to), 0) < 0 ? -errno : 0;
}

static int lf_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
    int res = fi ? fchmod(FH(fi)->fd, mode) : fchmodat(root_fd, rel(path), mode, 0);
    return res < 0 ? -errno : 0;
}

static int lf_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
    int res = fi ? fchown(FH(fi)->fd, uid, gid)
                 : fchownat(root_fd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW);
    return res < 0 ? -errno : 0;
}

/* Shrinking loses durable bytes: save them first. */
static int truncate_fd(int fd, uint64_t ino, off_t size) {
    pthread_rwlock_rdlock(&state_lock);
    int err = 0, res = 0;
    struct record *r = get_record(fd, ino, &err);
    if (!r) {
        pthread_rwlock_unlock(&state_lock);
        return err;
    }
    pthread_mutex_lock(&r->lock);
    res = save_range(r, size, r->durable_size);
    if (res == 0 && ftruncate(fd, size) < 0) res = -errno;
    pthread_mutex_unlock(&r->lock);
    pthread_rwlock_unlock(&state_lock);
    return res;
}

static int lf_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
    if (fi) return truncate_fd(FH(fi)->fd, FH(fi)->ino, size);
    int fd = openat(root_fd, rel(path), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    int res = fstat(fd, &st) < 0 ? -errno : truncate_fd(fd, st.st_ino, size);
    close(fd);
    return res;
}

static int lf_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
    int res = fi ? futimens(FH(fi)->fd, tv)
                 : utimensat(root_fd, rel(path), tv, AT_SYMLINK_NOFOLLOW);
    return res < 0 ? -errno : 0;
}

static int open_fh(int fd, int flags, struct fuse_file_info *fi) {
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    struct fh *h = malloc(sizeof *h);
    if (!h) {
        close(fd);
        return -ENOMEM;
    }
    h->fd = fd;
    h->flags = flags;
    h->ino = st.st_ino;
    fi->fh = (uint64_t)(uintptr_t)h;
    return 0;
}

/* The daemon's own fd: no O_DIRECT (its buffers are not aligned; the kernel already did the
 * direct I/O part), no O_APPEND (the kernel gives the offset), no O_TRUNC (done as a
 * truncate so that the old bytes are saved). */
static int backing_flags(int flags) {
    return (flags & ~(O_DIRECT | O_APPEND | O_TRUNC | O_SYNC | O_DSYNC | O_CREAT | O_EXCL)) |
           O_CLOEXEC;
}

static int lf_open(const char *path, struct fuse_file_info *fi) {
    if (fi->flags & O_TRUNC) {
        int e = lf_truncate(path, 0, NULL);
        if (e) return e;
    }
    int fd = openat(root_fd, rel(path), backing_flags(fi->flags));
    if (fd < 0) return -errno;
    return open_fh(fd, fi->flags, fi);
}

static int lf_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
    int fd = openat(root_fd, rel(path), backing_flags(fi->flags) | O_CREAT | (fi->flags & O_EXCL),
                    mode);
    if (fd < 0) return -errno;
    int e = owned(path, 0);
    if (e) {
        close(fd);
        return e;
    }
    e = open_fh(fd, fi->flags, fi);
    if (e == 0 && (fi->flags & O_TRUNC)) e = truncate_fd(FH(fi)->fd, FH(fi)->ino, 0);
    return e;
}

static int lf_read(const char *path, char *buf, size_t size, off_t off,
                   struct fuse_file_info *fi) {
    ssize_t n = pread(FH(fi)->fd, buf, size, off);
    return n < 0 ? -errno : (int)n;
}

static int lf_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi) {
    struct fh *h = FH(fi);
    int err = 0;
    pthread_rwlock_rdlock(&state_lock);
    struct record *r = get_record(h->fd, h->ino, &err);
    if (!r) {
        pthread_rwlock_unlock(&state_lock);
        return err;
    }
    pthread_mutex_lock(&r->lock);
    ssize_t n = save_range(r, off, off + (off_t)size);
    if (n == 0) {
        n = pwrite(h->fd, buf, size, off);
        if (n < 0) n = -errno;
    }
    pthread_mutex_unlock(&r->lock);
    if (n >= 0 && (h->flags & (O_SYNC | O_DSYNC))) {
        int e = make_durable(h->fd, h->ino, (h->flags & O_SYNC) != O_SYNC);
        if (e) n = e;
    }
    pthread_rwlock_unlock(&state_lock);
    return (int)n;
}

static int lf_statfs(const char *path, struct statvfs *st) {
    return fstatvfs(root_fd, st) < 0 ? -errno : 0;
}

static int lf_release(const char *path, struct fuse_file_info *fi) {
    close(FH(fi)->fd);
    free(FH(fi));
    return 0;
}

static int lf_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
    pthread_rwlock_rdlock(&state_lock);
    int res = make_durable(FH(fi)->fd, FH(fi)->ino, datasync);
    pthread_rwlock_unlock(&state_lock);
    return res;
}

static int lf_fallocate(const char *path, int mode, off_t off, off_t len,
                        struct fuse_file_info *fi) {
    struct fh *h = FH(fi);
    int err = 0;
    pthread_rwlock_rdlock(&state_lock);
    struct record *r = get_record(h->fd, h->ino, &err);
    if (!r) {
        pthread_rwlock_unlock(&state_lock);
        return err;
    }
    pthread_mutex_lock(&r->lock);
    int res = save_range(r, off, off + len); /* punch-hole / zero-range change durable bytes */
    if (res == 0 && fallocate(h->fd, mode, off, len) < 0) res = -errno;
    pthread_mutex_unlock(&r->lock);
    pthread_rwlock_unlock(&state_lock);
    return res;
}

static int lf_opendir(const char *path, struct fuse_file_info *fi) {
    int fd = openat(root_fd, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        close(fd);
        return e;
    }
    fi->fh = (uint64_t)(uintptr_t)d;
    return 0;
}

static int lf_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
    DIR *d = (DIR *)(uintptr_t)fi->fh;
    rewinddir(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st = {.st_ino = e->d_ino, .st_mode = (mode_t)DTTOIF(e->d_type)};
        if (fill(buf, e->d_name, &st, 0, 0)) break;
    }
    return 0;
}

static int lf_releasedir(const char *path, struct fuse_file_info *fi) {
    closedir((DIR *)(uintptr_t)fi->fh);
    return 0;
}

static int lf_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi) {
    int fd = dirfd((DIR *)(uintptr_t)fi->fh);
    return (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
}

static off_t lf_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi) {
    off_t res = lseek(FH(fi)->fd, off, whence);
    return res < 0 ? -errno : res;
}

static const struct fuse_operations ops = {
    .init = lf_init,
    .getattr = lf_getattr,
    .readlink = lf_readlink,
    .mknod = lf_mknod,
    .mkdir = lf_mkdir,
    .unlink = lf_unlink,
    .rmdir = lf_rmdir,
    .symlink = lf_symlink,
    .rename = lf_rename,
    .link = lf_link,
    .chmod = lf_chmod,
    .chown = lf_chown,
    .truncate = lf_truncate,
    .utimens = lf_utimens,
    .open = lf_open,
    .create = lf_create,
    .read = lf_read,
    .write = lf_write,
    .statfs = lf_statfs,
    .release = lf_release,
    .fsync = lf_fsync,
    .fallocate = lf_fallocate,
    .opendir = lf_opendir,
    .readdir = lf_readdir,
    .releasedir = lf_releasedir,
    .fsyncdir = lf_fsyncdir,
    .lseek = lf_lseek,
};

int main(int argc, char *argv[]) {
    char *end = NULL;
    if (argc >= 5) writeback_ms = strtol(argv[3], &end, 10);
    if (argc < 5 || !end || *end || writeback_ms < 0) {
        fprintf(stderr, "usage: lossyfs BACKING_DIR CONTROL_SOCKET WRITEBACK_MS MOUNTPOINT "
                        "[fuse options]\n");
        return 2;
    }
    root_fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
        fprintf(stderr, "lossyfs: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    control_path = argv[2];
    /* one kept fd per dirty file, plus the databases' own open files */
    struct rlimit rl = {65536, 65536};
    setrlimit(RLIMIT_NOFILE, &rl);
    umask(0); /* modes come from the caller, already masked by the kernel */
    argv[3] = argv[0];
    return fuse_main(argc - 3, argv + 3, &ops, NULL);
}

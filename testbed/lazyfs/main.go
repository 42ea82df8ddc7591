// Command lazyfs mounts a FUSE passthrough of a backing directory that keeps every written byte in
// memory until the file is fsynced or fdatasynced, so that a simulated power cut can drop them, as
// Jepsen's LazyFS does. It exists so the Hive test suite can check, with real processes, that the
// runtime acknowledges only what it has synced (SIGKILL alone cannot show that: the page cache of
// a real filesystem survives the death of the process).
//
//	lazyfs -backing DIR -mount DIR [-seed N] [-torn=true]
//
// Signals:
//
//	SIGUSR1  power cut: every unsynced write is dropped (with -torn, a seeded prefix of the last
//	         unsynced write of each file reaches the backing directory, a torn write), then the
//	         filesystem is unmounted and the process exits. Kill the writers first.
//	SIGTERM  clean shutdown: unsynced writes are flushed (as an orderly OS shutdown would), then
//	         unmount and exit.
//
// On exit one JSON line on stdout reports what was dropped or flushed.
//
// Modelled: file data (write, ftruncate through a file handle) is volatile until fsync/fdatasync on
// any handle of the file. Not modelled: directory entries (create, rename, unlink, mkdir) and
// O_TRUNC at open are durable at once, as are fallocate and metadata changes.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

const pageSize = 4096

// shadow is the unsynced state of one backing file (keyed by inode number).
type shadow struct {
	fd          int              // a dup of a backing descriptor, owned by the shadow
	pages       map[int64][]byte // dirty pages, each pageSize long
	size        int64            // the size the writers see
	truncatedTo int64            // the smallest size set since the last sync (-1: none)
	lastOff     int64            // the last unsynced write, for the torn-write model
	lastData    []byte
}

type state struct {
	mu      sync.Mutex
	shadows map[uint64]*shadow
}

var volatile = &state{shadows: map[uint64]*shadow{}}

func backingSize(fd int) int64 {
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil {
		return 0
	}
	return st.Size
}

// shadowFor returns the shadow of the file open on fd, creating it; called with mu held.
func (s *state) shadowFor(ino uint64, fd int) (*shadow, syscall.Errno) {
	if sh, ok := s.shadows[ino]; ok {
		return sh, 0
	}
	// A read-write descriptor of the same inode (fd may be write-only): pages are read through it.
	dup, err := syscall.Open(fmt.Sprintf("/proc/self/fd/%d", fd), syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	sh := &shadow{fd: dup, pages: map[int64][]byte{}, size: backingSize(fd), truncatedTo: -1}
	s.shadows[ino] = sh
	return sh, 0
}

// drop forgets the shadow of ino without writing anything; called with mu held.
func (s *state) drop(ino uint64) {
	if sh, ok := s.shadows[ino]; ok {
		syscall.Close(sh.fd)
		delete(s.shadows, ino)
	}
}

// visibleBacking reports whether backing byte off still shows through (not truncated away).
func (sh *shadow) visibleBacking(off int64) bool {
	return sh.truncatedTo < 0 || off < sh.truncatedTo
}

func (sh *shadow) page(index int64) []byte {
	if p, ok := sh.pages[index]; ok {
		return p
	}
	p := make([]byte, pageSize)
	start := index * pageSize
	n, _ := syscall.Pread(sh.fd, p, start)
	for i := 0; i < n; i++ {
		if !sh.visibleBacking(start + int64(i)) {
			p[i] = 0
		}
	}
	sh.pages[index] = p
	return p
}

func (sh *shadow) write(data []byte, off int64) {
	for done := 0; done < len(data); {
		pos := off + int64(done)
		p := sh.page(pos / pageSize)
		done += copy(p[pos%pageSize:], data[done:])
	}
	if end := off + int64(len(data)); end > sh.size {
		sh.size = end
	}
	sh.lastOff, sh.lastData = off, append([]byte(nil), data...)
}

func (sh *shadow) read(buf []byte, off int64) int {
	if off >= sh.size {
		return 0
	}
	if rest := sh.size - off; int64(len(buf)) > rest {
		buf = buf[:rest]
	}
	for done := 0; done < len(buf); {
		pos := off + int64(done)
		index, within := pos/pageSize, pos%pageSize
		chunk := buf[done:]
		if room := pageSize - within; int64(len(chunk)) > room {
			chunk = chunk[:room]
		}
		if p, ok := sh.pages[index]; ok {
			copy(chunk, p[within:])
		} else {
			n, _ := syscall.Pread(sh.fd, chunk, pos)
			for i := range chunk {
				if i >= n || !sh.visibleBacking(pos+int64(i)) {
					chunk[i] = 0
				}
			}
		}
		done += len(chunk)
	}
	return len(buf)
}

func (sh *shadow) truncate(size int64) {
	for index, p := range sh.pages {
		start := index * pageSize
		if start >= size {
			delete(sh.pages, index)
		} else if size-start < pageSize {
			clear(p[size-start:])
		}
	}
	if sh.truncatedTo < 0 || size < sh.truncatedTo {
		sh.truncatedTo = size
	}
	sh.size = size
	sh.lastData = nil
}

// flush writes the shadow to the backing file and fsyncs it.
func (sh *shadow) flush() (int64, syscall.Errno) {
	if sh.truncatedTo >= 0 {
		if err := syscall.Ftruncate(sh.fd, sh.truncatedTo); err != nil {
			return 0, fs.ToErrno(err)
		}
	}
	var written int64
	for index, p := range sh.pages {
		start := index * pageSize
		if start >= sh.size {
			continue
		}
		end := min(int64(pageSize), sh.size-start)
		if _, err := syscall.Pwrite(sh.fd, p[:end], start); err != nil {
			return written, fs.ToErrno(err)
		}
		written += end
	}
	if err := syscall.Ftruncate(sh.fd, sh.size); err != nil {
		return written, fs.ToErrno(err)
	}
	return written, fs.ToErrno(syscall.Fsync(sh.fd))
}

// lazyFile is a loopback file handle whose writes go to the shadow of its inode.
type lazyFile struct {
	*fs.LoopbackFile
	ino uint64
	fd  int
}

func (f *lazyFile) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	volatile.mu.Lock()
	defer volatile.mu.Unlock()
	sh, errno := volatile.shadowFor(f.ino, f.fd)
	if errno != 0 {
		return 0, errno
	}
	sh.write(data, off)
	return uint32(len(data)), 0
}

func (f *lazyFile) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	volatile.mu.Lock()
	defer volatile.mu.Unlock()
	if sh, ok := volatile.shadows[f.ino]; ok {
		return fuse.ReadResultData(buf[:sh.read(buf, off)]), 0
	}
	n, err := syscall.Pread(f.fd, buf, off)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	return fuse.ReadResultData(buf[:n]), 0
}

func (f *lazyFile) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	volatile.mu.Lock()
	defer volatile.mu.Unlock()
	if sh, ok := volatile.shadows[f.ino]; ok {
		_, errno := sh.flush()
		volatile.drop(f.ino)
		return errno
	}
	return fs.ToErrno(syscall.Fsync(f.fd))
}

func (f *lazyFile) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	if errno := f.LoopbackFile.Getattr(ctx, out); errno != 0 {
		return errno
	}
	volatile.mu.Lock()
	defer volatile.mu.Unlock()
	if sh, ok := volatile.shadows[f.ino]; ok {
		out.Size = uint64(sh.size)
	}
	return 0
}

func (f *lazyFile) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		volatile.mu.Lock()
		sh, errno := volatile.shadowFor(f.ino, f.fd)
		if errno == 0 {
			sh.truncate(int64(size))
		}
		volatile.mu.Unlock()
		if errno != 0 {
			return errno
		}
		rest := *in
		rest.Valid &^= fuse.FATTR_SIZE
		in = &rest
	}
	if errno := f.LoopbackFile.Setattr(ctx, in, out); errno != 0 {
		return errno
	}
	return f.Getattr(ctx, out)
}

// lazyNode is a loopback node whose files are lazyFiles.
type lazyNode struct {
	fs.LoopbackNode
}

func newNode(root *fs.LoopbackRoot, parent *fs.Inode, name string, st *syscall.Stat_t) fs.InodeEmbedder {
	return &lazyNode{fs.LoopbackNode{RootData: root}}
}

func wrap(fh fs.FileHandle, flags uint32) (fs.FileHandle, syscall.Errno) {
	lf := fh.(*fs.LoopbackFile)
	fd, ok := lf.PassthroughFd()
	if !ok {
		return nil, syscall.EBADF
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, fs.ToErrno(err)
	}
	if flags&syscall.O_TRUNC != 0 { // the backing file was truncated at open: nothing to keep
		volatile.mu.Lock()
		volatile.drop(st.Ino)
		volatile.mu.Unlock()
	}
	return &lazyFile{LoopbackFile: lf, ino: st.Ino, fd: fd}, 0
}

func (n *lazyNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fuseFlags, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	wrapped, errno := wrap(fh, flags)
	return wrapped, fuseFlags, errno
}

func (n *lazyNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	inode, fh, fuseFlags, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	wrapped, errno := wrap(fh, flags)
	return inode, wrapped, fuseFlags, errno
}

func (n *lazyNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if fga, ok := f.(fs.FileGetattrer); ok {
		return fga.Getattr(ctx, out)
	}
	if errno := n.LoopbackNode.Getattr(ctx, nil, out); errno != 0 {
		return errno
	}
	var st syscall.Stat_t
	if syscall.Lstat(n.backingPath(), &st) == nil {
		volatile.mu.Lock()
		if sh, ok := volatile.shadows[st.Ino]; ok {
			out.Size = uint64(sh.size)
		}
		volatile.mu.Unlock()
	}
	return 0
}

func (n *lazyNode) backingPath() string {
	return n.RootData.Path + "/" + n.Path(n.RootData.RootNode.EmbeddedInode())
}

// forgetIfLastLink drops the shadow of a file whose last name is about to go.
func (n *lazyNode) forgetIfLastLink(name string) {
	var st syscall.Stat_t
	if syscall.Lstat(n.backingPath()+"/"+name, &st) == nil && st.Nlink <= 1 {
		volatile.mu.Lock()
		volatile.drop(st.Ino)
		volatile.mu.Unlock()
	}
}

func (n *lazyNode) Unlink(ctx context.Context, name string) syscall.Errno {
	n.forgetIfLastLink(name)
	return n.LoopbackNode.Unlink(ctx, name)
}

func (n *lazyNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if target, ok := newParent.(*lazyNode); ok && flags == 0 {
		target.forgetIfLastLink(newName)
	}
	return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
}

type report struct {
	Event string `json:"event"`
	Files int    `json:"files"`
	Bytes int64  `json:"bytes"`
	Torn  int64  `json:"tornBytes"`
}

// powerCut drops every shadow; with torn, a seeded prefix of each file's last write persists.
func powerCut(rng *rand.Rand, torn bool) report {
	volatile.mu.Lock()
	defer volatile.mu.Unlock()
	out := report{Event: "power-cut"}
	inodes := make([]uint64, 0, len(volatile.shadows))
	for ino := range volatile.shadows {
		inodes = append(inodes, ino)
	}
	sort.Slice(inodes, func(i, j int) bool { return inodes[i] < inodes[j] })
	for _, ino := range inodes {
		sh := volatile.shadows[ino]
		out.Files++
		out.Bytes += int64(len(sh.pages)) * pageSize
		if torn && len(sh.lastData) > 0 {
			keep := rng.Intn(len(sh.lastData) + 1)
			if _, err := syscall.Pwrite(sh.fd, sh.lastData[:keep], sh.lastOff); err == nil {
				syscall.Fsync(sh.fd)
				out.Torn += int64(keep)
			}
		}
		volatile.drop(ino)
	}
	return out
}

func flushAll() report {
	volatile.mu.Lock()
	defer volatile.mu.Unlock()
	out := report{Event: "flushed"}
	for ino, sh := range volatile.shadows {
		written, _ := sh.flush()
		out.Files++
		out.Bytes += written
		volatile.drop(ino)
	}
	return out
}

func main() {
	backing := flag.String("backing", "", "backing directory (holds only synced data)")
	mountpoint := flag.String("mount", "", "mount point")
	seed := flag.Int64("seed", 1, "seed of the torn-write prefix lengths")
	torn := flag.Bool("torn", true, "keep a seeded prefix of each file's last unsynced write on a power cut")
	flag.Parse()
	if *backing == "" || *mountpoint == "" {
		fmt.Fprintln(os.Stderr, "usage: lazyfs -backing DIR -mount DIR [-seed N] [-torn=true]")
		os.Exit(2)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(*backing, &st); err != nil {
		fmt.Fprintln(os.Stderr, "lazyfs:", err)
		os.Exit(1)
	}
	root := &fs.LoopbackRoot{Path: *backing, Dev: uint64(st.Dev), NewNode: newNode}
	root.RootNode = newNode(root, nil, "", &st)
	zero := time.Duration(0)
	server, err := fs.Mount(*mountpoint, root.RootNode, &fs.Options{
		// No kernel attribute or entry caching: sizes come from the shadows on every call.
		// DirectMount: mount(2) as root, no fusermount binary needed.
		AttrTimeout:  &zero,
		EntryTimeout: &zero,
		MountOptions: fuse.MountOptions{FsName: "lazyfs", Name: "lazyfs", DirectMount: true},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "lazyfs: mount:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "lazyfs: mounted", *mountpoint)
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() { server.Wait(); close(done) }()
	var outcome report
	select {
	case sig := <-signals:
		if sig == syscall.SIGUSR1 {
			outcome = powerCut(rand.New(rand.NewSource(*seed)), *torn)
		} else {
			outcome = flushAll()
		}
		err := server.Unmount()
		for attempt := 0; err != nil && attempt < 50; attempt++ { // busy: a writer is still alive
			time.Sleep(100 * time.Millisecond)
			err = server.Unmount()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "lazyfs: unmount:", err)
			line, _ := json.Marshal(outcome)
			fmt.Println(string(line))
			os.Exit(1)
		}
		<-done
	case <-done:
		outcome = flushAll()
	}
	line, _ := json.Marshal(outcome)
	fmt.Println(string(line))
}

// PassthroughFd refuses kernel passthrough: every read and write must come through the shadows.
func (f *lazyFile) PassthroughFd() (int, bool) { return 0, false }

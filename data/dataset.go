package data

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// EnvDataDir names the environment variable that points Load at a data
// directory. For "mnist" Load looks in $GOFDE_DATA/mnist and then in
// $GOFDE_DATA itself; for "fashion" in $GOFDE_DATA/fashion-mnist, then
// $GOFDE_DATA/fashion, then $GOFDE_DATA itself.
const EnvDataDir = "GOFDE_DATA"

// DebianFashionPackage is the Debian package that ships Fashion-MNIST
// (apt-get install dataset-fashion-mnist), and DebianFashionDir the
// directory it installs the four original .gz files into. Load asks
// `dpkg -L` for the directory and falls back to DebianFashionDir.
const (
	DebianFashionPackage = "dataset-fashion-mnist"
	DebianFashionDir     = "/usr/share/datasets/fashion-mnist"
)

// Sources, in the order Load tries them. Dataset.Source reports the one
// used; LoadOptions.Sources may restrict the list.
const (
	SourceDir      = "dir"             // LoadOptions.Dir
	SourceEnv      = "env"             // the directory named by $GOFDE_DATA
	SourceDebian   = "debian"          // Debian's dataset-fashion-mnist (fashion only)
	SourceCache    = "cache"           // the per-user cache, <UserCacheDir>/gofde/<name>
	SourceDownload = "download"        // downloaded into the cache just now
	SourceSample   = "embedded sample" // the Fashion-MNIST sample built into the package
)

// NumClasses is the number of classes of both MNIST and Fashion-MNIST;
// Load rejects labels outside 0..NumClasses-1.
const NumClasses = 10

var classNames = map[string][]string{
	"mnist":   {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
	"fashion": {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"},
}

// Split is one part of a dataset: images and their labels, Labels[i]
// being the class of image i.
type Split struct {
	Images *Images
	Labels []int
}

// Len returns the number of examples.
func (s *Split) Len() int { return len(s.Labels) }

// Subset returns a copy of examples i..j-1.
func (s *Split) Subset(i, j int) *Split {
	return &Split{Images: s.Images.Subset(i, j), Labels: slices.Clone(s.Labels[i:j])}
}

// Dataset is MNIST or Fashion-MNIST: a training and a test split of
// 28×28 grey-scale images in NumClasses classes.
type Dataset struct {
	Name    string   // "mnist" or "fashion"
	Train   *Split   // nil when loaded with LoadOptions.TestOnly
	Test    *Split   // the official test split (t10k files)
	Classes []string // class names, indexed by label
	// Source says where the files came from: one of the Source
	// constants.
	Source string
	// Dir is the directory the files were read from; "" for the
	// embedded sample.
	Dir string
}

// LoadOptions configures Load. The zero value looks in $GOFDE_DATA, in
// Debian's install directory (Fashion-MNIST) and in the cache, and
// neither downloads nor falls back to the embedded sample.
type LoadOptions struct {
	// Dir, if set, is the only place looked at: the four files (or the
	// two test files with TestOnly) must be there, else Load fails.
	Dir string
	// TestOnly asks for the test split only: the training files need
	// not exist and Dataset.Train is nil. This is how MNIST is used
	// offline, where only its test set and training labels are at hand;
	// see SplitTest.
	TestOnly bool
	// Download allows fetching missing files into the cache from the
	// public mirrors (SHA-256 verified) when no local copy is found.
	Download bool
	// AllowSample allows falling back to the embedded Fashion-MNIST
	// sample (2,000 training and 500 test images, class-balanced) when
	// nothing else is found. It applies to "fashion" only.
	AllowSample bool
	// Sources, if not empty, restricts the lookup to these sources
	// (Source constants; the order stays the standard one). Listing
	// SourceDownload or SourceSample enables them as Download and
	// AllowSample do. Ignored when Dir is set.
	Sources []string
	// CacheDir replaces os.UserCacheDir()/gofde as the cache root; the
	// files live in CacheDir/<name>.
	CacheDir string
	// Mirrors replaces the default download mirrors: base URLs to which
	// the file name is appended, tried in order.
	Mirrors []string
	// HTTPClient is used for downloads; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Progress, if not nil, receives human-readable lines: where the
	// data were found, download progress, and a notice when the
	// embedded sample is used.
	Progress io.Writer
	// OnProgress, if not nil, is called as download data arrive.
	OnProgress func(DownloadProgress)
	// TrainLimit, if positive, keeps only the first TrainLimit training
	// examples, and only they are read: decoding stops there, so a
	// small limit makes loading much cheaper. The result is exactly
	// the full split's Subset(0, TrainLimit); a split that holds no
	// more than TrainLimit examples is returned whole. 0 means all;
	// negative is an error. The headers are still validated in full
	// (magic numbers, sizes, image and label files declaring the same
	// count), but what lies beyond the limit is not read, so labels out
	// of range, truncation, trailing bytes or a bad gzip CRC there go
	// unnoticed. Ignored with TestOnly, which loads no training split.
	TrainLimit int
	// TestLimit is TrainLimit for the test split. With TestOnly it
	// limits the one file pair read, before any SplitTest: for the
	// offline protocol, SplitTest(ds, 8000) needs TestLimit 0 or more
	// than 8000 (8000 + k leaves k test examples).
	TestLimit int
}

// file base names, without the optional ".gz".
const (
	trainImages = "train-images-idx3-ubyte"
	trainLabels = "train-labels-idx1-ubyte"
	testImages  = "t10k-images-idx3-ubyte"
	testLabels  = "t10k-labels-idx1-ubyte"
)

// Load returns the dataset name ("mnist", or "fashion" for Fashion-MNIST;
// "fashion-mnist" is accepted too), looking in order at:
//
//  1. opt.Dir, if set, and nowhere else;
//  2. $GOFDE_DATA (see EnvDataDir);
//  3. for fashion, Debian's dataset-fashion-mnist (see DebianFashionDir);
//  4. the cache, os.UserCacheDir()/gofde/<name> (or opt.CacheDir/<name>);
//  5. if opt.Download, the public mirrors, downloading into the cache;
//  6. if opt.AllowSample, for fashion, the embedded sample.
//
// A directory counts if it holds the four files
// {train,t10k}-{images-idx3,labels-idx1}-ubyte, each raw or gzipped
// (with or without a ".gz" suffix); with opt.TestOnly the two t10k files
// suffice. Once a directory is chosen its files must parse: image and
// label counts must agree, labels must lie in 0..9 and both splits must
// have one image size. If nothing is found, the error wraps ErrNotFound
// and lists what was tried.
//
// opt.TrainLimit and opt.TestLimit make Load read only the first
// examples of each split, stopping the decoding early; the splits
// returned are the same as the full ones' first examples. They apply to
// the splits Load returns: with opt.TestOnly, TestLimit limits the test
// files and TrainLimit is ignored, so a caller that goes on to SplitTest
// must leave room for the training part in TestLimit.
func Load(name string, opt LoadOptions) (*Dataset, error) {
	return LoadContext(context.Background(), name, opt)
}

// LoadContext is Load with a context that bounds downloads and the dpkg
// query.
func LoadContext(ctx context.Context, name string, opt LoadOptions) (*Dataset, error) {
	switch name {
	case "mnist":
	case "fashion", "fashion-mnist":
		name = "fashion"
	default:
		return nil, fmt.Errorf("data: unknown dataset %q (want \"mnist\" or \"fashion\")", name)
	}
	if opt.TrainLimit < 0 || opt.TestLimit < 0 {
		return nil, fmt.Errorf("data: %s: LoadOptions.TrainLimit = %d, TestLimit = %d: limits must not be negative (0 means all)", name, opt.TrainLimit, opt.TestLimit)
	}
	l := &loader{ctx: ctx, name: name, opt: opt}
	l.need = []string{testImages, testLabels}
	if !opt.TestOnly {
		l.need = append([]string{trainImages, trainLabels}, l.need...)
	}
	if opt.Dir != "" {
		if _, err := os.Stat(opt.Dir); err != nil {
			return nil, fmt.Errorf("data: %s: %w: LoadOptions.Dir: %w", name, ErrNotFound, err)
		}
		if missing := missingIn(opt.Dir, l.need); len(missing) > 0 {
			return nil, fmt.Errorf("data: %s: %w in %s (LoadOptions.Dir): missing %s", name, ErrNotFound, opt.Dir, describeMissing(missing))
		}
		return l.loadDir(opt.Dir, SourceDir)
	}
	enabled := map[string]bool{SourceEnv: true, SourceDebian: true, SourceCache: true,
		SourceDownload: opt.Download, SourceSample: opt.AllowSample}
	if len(opt.Sources) > 0 {
		clear(enabled)
		for _, s := range opt.Sources {
			switch s {
			case SourceEnv, SourceDebian, SourceCache, SourceDownload, SourceSample:
				enabled[s] = true
			default:
				return nil, fmt.Errorf("data: unknown source %q in LoadOptions.Sources", s)
			}
		}
	}

	if enabled[SourceEnv] {
		if root := os.Getenv(EnvDataDir); root == "" {
			l.tried = append(l.tried, "$"+EnvDataDir+" is not set")
		} else {
			for _, dir := range envDirs(root, name) {
				if l.usable(dir, "$"+EnvDataDir) {
					return l.loadDir(dir, SourceEnv)
				}
			}
		}
	}
	if enabled[SourceDebian] && name == "fashion" {
		if dir := debianFashionDir(ctx); l.usable(dir, "Debian package "+DebianFashionPackage) {
			return l.loadDir(dir, SourceDebian)
		}
	}
	cacheDir, cacheErr := cacheDir(opt.CacheDir, name)
	if enabled[SourceCache] {
		if cacheErr != nil {
			l.tried = append(l.tried, fmt.Sprintf("cache: %v", cacheErr))
		} else if l.usable(cacheDir, "cache") {
			return l.loadDir(cacheDir, SourceCache)
		}
	}
	if enabled[SourceDownload] {
		if cacheErr != nil {
			return nil, fmt.Errorf("data: %s: cannot download without a cache directory: %w", name, cacheErr)
		}
		if err := l.download(cacheDir); err != nil {
			return nil, err
		}
		return l.loadDir(cacheDir, SourceDownload)
	}
	if enabled[SourceSample] {
		if name == "fashion" {
			return l.loadSample()
		}
		l.tried = append(l.tried, "embedded sample: there is none for mnist (it is Fashion-MNIST)")
	}
	hint := "set LoadOptions.Dir or $" + EnvDataDir + ", or LoadOptions.Download to fetch the files"
	if name == "fashion" {
		hint += ", install Debian's " + DebianFashionPackage + ", or set LoadOptions.AllowSample for the embedded sample"
	}
	return nil, fmt.Errorf("data: %s: %w; tried: %s; %s", name, ErrNotFound, strings.Join(l.tried, "; "), hint)
}

type loader struct {
	ctx   context.Context
	name  string
	opt   LoadOptions
	need  []string // base names required
	tried []string // what was looked at, for the not-found error
}

func (l *loader) logf(format string, args ...any) {
	if l.opt.Progress != nil {
		fmt.Fprintf(l.opt.Progress, format+"\n", args...)
	}
}

// usable reports whether dir holds the needed files; if not, it notes
// why under the label what.
func (l *loader) usable(dir, what string) bool {
	missing := missingIn(dir, l.need)
	if len(missing) == 0 {
		return true
	}
	if len(missing) == len(l.need) {
		if _, err := os.Stat(dir); err != nil {
			l.tried = append(l.tried, fmt.Sprintf("%s %s: no such directory", what, dir))
		} else {
			l.tried = append(l.tried, fmt.Sprintf("%s %s: none of the files", what, dir))
		}
		return false
	}
	l.tried = append(l.tried, fmt.Sprintf("%s %s: missing %s", what, dir, describeMissing(missing)))
	return false
}

func describeMissing(bases []string) string {
	s := make([]string, len(bases))
	for i, b := range bases {
		s[i] = b + "[.gz]"
	}
	return strings.Join(s, ", ")
}

// envDirs lists the directories $GOFDE_DATA offers for name.
func envDirs(root, name string) []string {
	if name == "fashion" {
		return []string{filepath.Join(root, "fashion-mnist"), filepath.Join(root, "fashion"), root}
	}
	return []string{filepath.Join(root, "mnist"), root}
}

// cacheDir returns the cache directory of dataset name.
func cacheDir(root, name string) (string, error) {
	if root == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		root = filepath.Join(base, "gofde")
	}
	return filepath.Join(root, name), nil
}

// debianFashionDir asks dpkg where dataset-fashion-mnist put its files,
// falling back to the known directory.
func debianFashionDir(ctx context.Context) string {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		return DebianFashionDir
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, dpkg, "-L", DebianFashionPackage).Output()
	if err != nil {
		return DebianFashionDir
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if filepath.Base(line) == testImages+".gz" {
			return filepath.Dir(line)
		}
	}
	return DebianFashionDir
}

// findIn returns the name under which base exists in fsys: base+".gz"
// or base.
func findIn(fsys fs.FS, base string) (string, bool) {
	for _, n := range []string{base + ".gz", base} {
		if st, err := fs.Stat(fsys, n); err == nil && st.Mode().IsRegular() {
			return n, true
		}
	}
	return "", false
}

func missingIn(dir string, bases []string) []string {
	fsys := os.DirFS(dir)
	var missing []string
	for _, b := range bases {
		if _, ok := findIn(fsys, b); !ok {
			missing = append(missing, b)
		}
	}
	return missing
}

func (l *loader) loadDir(dir, source string) (*Dataset, error) {
	ds, err := l.loadFS(os.DirFS(dir), dir)
	if err != nil {
		return nil, err
	}
	ds.Source, ds.Dir = source, dir
	l.logf("data: %s: loaded from %s (%s): %s", l.name, dir, source, l.counts(ds))
	return ds, nil
}

func (l *loader) loadSample() (*Dataset, error) {
	sub, err := fs.Sub(sampleFS, "sample")
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	ds, err := l.loadFS(sub, "embedded:sample")
	if err != nil {
		return nil, err
	}
	ds.Source = SourceSample
	l.logf("data: %s: using the embedded sample, a class-balanced subset of Fashion-MNIST (%s), not the full dataset; "+
		"for that set $%s, install Debian's %s or set LoadOptions.Download", l.name, l.counts(ds), EnvDataDir, DebianFashionPackage)
	return ds, nil
}

func (l *loader) counts(ds *Dataset) string {
	s := fmt.Sprintf("%d test images", ds.Test.Len())
	if ds.Train != nil {
		s = fmt.Sprintf("%d training and %s", ds.Train.Len(), s)
	}
	if (l.opt.TrainLimit > 0 && !l.opt.TestOnly) || l.opt.TestLimit > 0 {
		s += fmt.Sprintf(" (read up to LoadOptions.TrainLimit = %d, TestLimit = %d)", l.opt.TrainLimit, l.opt.TestLimit)
	}
	return s
}

// loadFS reads the needed files from fsys; disp is the directory shown
// in errors.
func (l *loader) loadFS(fsys fs.FS, disp string) (*Dataset, error) {
	ds := &Dataset{Name: l.name, Classes: slices.Clone(classNames[l.name])}
	var err error
	if ds.Test, err = loadSplit(fsys, disp, testImages, testLabels, l.opt.TestLimit); err != nil {
		return nil, err
	}
	if !l.opt.TestOnly {
		if ds.Train, err = loadSplit(fsys, disp, trainImages, trainLabels, l.opt.TrainLimit); err != nil {
			return nil, err
		}
		tr, te := ds.Train.Images, ds.Test.Images
		if tr.Rows != te.Rows || tr.Cols != te.Cols {
			return nil, fmt.Errorf("data: %s: %w: training images are %dx%d, test images %dx%d",
				disp, ErrCountMismatch, tr.Rows, tr.Cols, te.Rows, te.Cols)
		}
	}
	return ds, nil
}

// loadSplit reads one split, its first limit examples only when limit
// is positive.
func loadSplit(fsys fs.FS, disp, imagesBase, labelsBase string, limit int) (*Split, error) {
	open := func(base string) (fs.File, string, error) {
		n, ok := findIn(fsys, base)
		if !ok {
			return nil, "", fmt.Errorf("data: %s: %w: missing %s[.gz]", disp, ErrNotFound, base)
		}
		p := filepath.Join(disp, n)
		f, err := fsys.Open(n)
		if err != nil {
			return nil, "", fmt.Errorf("data: %s: %w", p, err)
		}
		return f, p, nil
	}
	f, imPath, err := open(imagesBase)
	if err != nil {
		return nil, err
	}
	im, nImages, err := readImagesLimit(f, limit)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", imPath, err)
	}
	f, lPath, err := open(labelsBase)
	if err != nil {
		return nil, err
	}
	labels, nLabels, err := readLabelsLimit(f, limit)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", lPath, err)
	}
	if err := CheckLabels(labels, NumClasses); err != nil {
		return nil, fmt.Errorf("data: %s: %w", lPath, err)
	}
	// Compare the declared counts, not what was read, so that a limit
	// does not hide a mismatch.
	if nLabels != nImages {
		return nil, fmt.Errorf("data: %w: %s holds %d images but %s holds %d labels", ErrCountMismatch, imPath, nImages, lPath, nLabels)
	}
	return &Split{Images: im, Labels: labels}, nil
}

// download fetches the needed files that dir lacks.
func (l *loader) download(dir string) error {
	mirrors := l.opt.Mirrors
	if len(mirrors) == 0 {
		mirrors = defaultMirrors[l.name]
	}
	d := &downloader{dataset: l.name, dir: dir, mirrors: mirrors, client: l.opt.HTTPClient,
		log: l.opt.Progress, progress: l.opt.OnProgress}
	for _, base := range missingIn(dir, l.need) {
		i := slices.IndexFunc(knownFiles[l.name], func(s fileSpec) bool { return s.name == base+".gz" })
		if err := d.fetch(l.ctx, knownFiles[l.name][i]); err != nil {
			return err
		}
	}
	return nil
}

// SplitTest makes a training and a test split out of ds's test split:
// its first nTrain examples become Train, the rest Test (copies; ds is
// not changed). It serves the offline protocol for MNIST, whose training
// images are not always at hand: the official 10,000 test images split
// into the first 8,000 for training and the last 2,000 for testing,
// SplitTest(ds, 8000). 0 < nTrain < ds.Test.Len() is required.
func SplitTest(ds *Dataset, nTrain int) (*Dataset, error) {
	if ds == nil || ds.Test == nil {
		return nil, errors.New("data: SplitTest: dataset has no test split")
	}
	n := ds.Test.Len()
	if nTrain <= 0 || nTrain >= n {
		return nil, fmt.Errorf("data: SplitTest: nTrain = %d, want 0 < nTrain < %d", nTrain, n)
	}
	out := *ds
	out.Classes = slices.Clone(ds.Classes)
	out.Train = ds.Test.Subset(0, nTrain)
	out.Test = ds.Test.Subset(nTrain, n)
	return &out, nil
}

package redis

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// The schemes of a URL that reaches the primary through Redis Sentinel.
const (
	SentinelScheme    = "redis-sentinel"
	SentinelTLSScheme = "rediss-sentinel"
	// DefaultSentinelPort is Sentinel's own port, used when an address
	// of a Sentinel URL has none.
	DefaultSentinelPort = "26379"
)

// IsSentinelURL reports whether u names Sentinels (redis-sentinel:// or
// rediss-sentinel://) rather than one server.
func IsSentinelURL(u string) bool {
	return strings.HasPrefix(u, SentinelScheme+"://") || strings.HasPrefix(u, SentinelTLSScheme+"://")
}

// ValidateURL checks a URL Open would take, without connecting: a
// redis://, rediss:// or unix:// URL go-redis's ParseURL reads, or a
// Sentinel URL (see Options.URL). Its error never quotes the URL.
func ValidateURL(u string) error {
	if IsSentinelURL(u) {
		_, err := parseSentinelURL(u)
		return err
	}
	if _, err := goredis.ParseURL(u); err != nil {
		return errors.New("the URL is not a valid redis:// URL")
	}
	return nil
}

// client is what Open builds from Options.URL: the go-redis client and,
// for logs and errors, where it points (never with credentials).
type client struct {
	rdb      *goredis.Client
	where    string // "redis 127.0.0.1:6379 db 0" or "sentinel master backlot via a,b,c db 0"
	addr     string // for the logger: the server or the Sentinels
	sentinel bool
}

// newClient parses a redis://, rediss://, unix:// or Sentinel URL and
// builds its client with the two settings Open fixes (no command retries,
// no context deadlines on reads).
func newClient(raw string) (*client, error) {
	if IsSentinelURL(raw) {
		fo, err := parseSentinelURL(raw)
		if err != nil {
			return nil, err
		}
		fo.MaxRetries = -1
		fo.ContextTimeoutEnabled = false
		addrs := strings.Join(fo.SentinelAddrs, ",")
		return &client{
			rdb:      goredis.NewFailoverClient(fo),
			where:    fmt.Sprintf("sentinel master %s via %s db %d", fo.MasterName, addrs, fo.DB),
			addr:     "sentinel " + addrs,
			sentinel: true,
		}, nil
	}
	opt, err := goredis.ParseURL(raw)
	if err != nil {
		// Not ParseURL's message: it may quote the URL, password included.
		return nil, errors.New("the URL is not a valid redis:// URL")
	}
	opt.MaxRetries = -1
	opt.ContextTimeoutEnabled = false
	return &client{
		rdb:   goredis.NewClient(opt),
		where: fmt.Sprintf("redis %s db %d", opt.Addr, opt.DB),
		addr:  opt.Addr,
	}, nil
}

// parseSentinelURL reads Backlot's Sentinel URL,
//
//	redis-sentinel://[[user]:password@]host:port[,host:port…][/db]?master=NAME[&sentinel_password=…][&…]
//
// (rediss-sentinel:// for TLS to the Sentinels and the servers alike), into
// go-redis's FailoverOptions. The user and password are the Redis
// servers' (primary and replicas), as in a redis:// URL; the Sentinels'
// own come from sentinel_username and sentinel_password. Every other query
// parameter is go-redis's (ParseFailoverURL's: dial_timeout, read_timeout,
// pool_size, skip_verify …), and an unknown one is an error. A host
// without a port gets Sentinel's 26379.
//
// The URL is translated into the form go-redis's ParseFailoverURL reads
// (redis://sentinel-credentials@first?addr=second&master_name=…&password=…),
// whose user-info is the Sentinels' and whose hosts are query parameters:
// a form easy to get wrong, and one that a plain redis:// URL could not be
// told apart from.
func parseSentinelURL(raw string) (*goredis.FailoverOptions, error) {
	invalid := func(why string) error {
		// Never the URL itself: it may hold passwords.
		return fmt.Errorf("the URL is not a valid %s:// URL: %s", SentinelScheme, why)
	}
	scheme, rest, _ := strings.Cut(raw, "://")
	goScheme := "redis"
	if scheme == SentinelTLSScheme {
		goScheme = "rediss"
	}
	rest, frag, _ := strings.Cut(rest, "#")
	if frag != "" {
		return nil, invalid("it has a fragment")
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	var user *url.Userinfo
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		u, err := url.Parse("redis://" + authority[:at+1] + "x")
		if err != nil || u.User == nil {
			return nil, invalid("its user and password do not parse (percent-encode special characters)")
		}
		user, authority = u.User, authority[at+1:]
	}
	var addrs []string
	for _, h := range strings.Split(authority, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			host, port = h, DefaultSentinelPort
			if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
				return nil, invalid(fmt.Sprintf("sentinel address %q is not host:port", h))
			}
			host = strings.Trim(host, "[]")
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
			return nil, invalid(fmt.Sprintf("sentinel address %q is not host:port", h))
		}
		addrs = append(addrs, net.JoinHostPort(host, port))
	}
	if len(addrs) == 0 {
		return nil, invalid("it names no Sentinel")
	}
	db := 0
	if path = strings.Trim(path, "/"); path != "" {
		n, err := strconv.Atoi(path)
		if err != nil || n < 0 {
			return nil, invalid(fmt.Sprintf("database %q is not a number", path))
		}
		db = n
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, invalid("its query does not parse")
	}
	for _, k := range []string{"addr", "db", "username", "password"} {
		if q.Has(k) {
			return nil, invalid(fmt.Sprintf("%q is not a query parameter of this form: Sentinels go in the host list, the database in the path, the servers' credentials before the @ and the Sentinels' in sentinel_username and sentinel_password", k))
		}
	}
	if q.Has("master") && q.Has("master_name") {
		return nil, invalid("it has both master and master_name")
	}
	master := q.Get("master")
	if master == "" {
		master = q.Get("master_name")
	}
	if master == "" {
		return nil, invalid("it needs ?master=NAME, the name the Sentinels monitor the primary under")
	}
	sentinelUser, sentinelPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("master")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	q.Set("master_name", master)
	for _, a := range addrs[1:] {
		q.Add("addr", a)
	}
	if user != nil {
		if name := user.Username(); name != "" {
			q.Set("username", name)
		}
		if pw, ok := user.Password(); ok {
			q.Set("password", pw)
		}
	}
	g := url.URL{Scheme: goScheme, Host: addrs[0], Path: "/" + strconv.Itoa(db), RawQuery: q.Encode()}
	if sentinelUser != "" || sentinelPass != "" {
		g.User = url.UserPassword(sentinelUser, sentinelPass)
	}
	fo, err := goredis.ParseFailoverURL(g.String())
	if err != nil {
		// go-redis names the parameter at fault without quoting values
		// for an unknown option; for others, say only what kind it was.
		msg := err.Error()
		if !strings.Contains(msg, "unexpected option") {
			msg = "an option's value is invalid"
		}
		return nil, invalid(msg)
	}
	if fo.TLSConfig != nil {
		// go-redis names the first Sentinel as the server of every TLS
		// connection, the primary's and the replicas' too; empty, each
		// connection checks the certificate of the host it dialled.
		fo.TLSConfig.ServerName = ""
	}
	return fo, nil
}

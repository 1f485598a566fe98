package redis

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSentinelURL: Backlot's Sentinel URL becomes go-redis's failover
// options: Sentinels from the host list (26379 when a port is missing),
// the servers' credentials from the user-info, the Sentinels' from
// sentinel_username and sentinel_password, TLS from the scheme, go-redis's
// own parameters passed through; errors never quote a password.
func TestSentinelURL(t *testing.T) {
	fo, err := parseSentinelURL("redis-sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380,sentinel-3/2?master=mymaster&sentinel_password=sp&dial_timeout=2s&pool_size=7")
	if err != nil {
		t.Fatal(err)
	}
	if fo.MasterName != "mymaster" || fo.DB != 2 || fo.Password != "s3cret" || fo.Username != "" ||
		fo.SentinelPassword != "sp" || fo.SentinelUsername != "" || fo.TLSConfig != nil ||
		fo.DialTimeout != 2*time.Second || fo.PoolSize != 7 ||
		!slices.Equal(fo.SentinelAddrs, []string{"10.0.0.1:26379", "10.0.0.2:26380", "sentinel-3:26379"}) {
		t.Fatalf("%+v", fo)
	}
	fo, err = parseSentinelURL("rediss-sentinel://app:pw@[::1]:5000/?master_name=m&sentinel_username=su&sentinel_password=sp&skip_verify=true")
	if err != nil {
		t.Fatal(err)
	}
	if fo.MasterName != "m" || fo.DB != 0 || fo.Username != "app" || fo.Password != "pw" || fo.SentinelUsername != "su" ||
		fo.TLSConfig == nil || !fo.TLSConfig.InsecureSkipVerify || fo.TLSConfig.ServerName != "" || !slices.Equal(fo.SentinelAddrs, []string{"[::1]:5000"}) {
		t.Fatalf("%+v", fo)
	}
	for _, bad := range []string{
		"redis-sentinel://h:1,h:2/0",                                // no master
		"redis-sentinel:///0?master=m",                              // no Sentinel
		"redis-sentinel://h:x/0?master=m",                           // port
		"redis-sentinel://h:1/zero?master=m",                        // db
		"redis-sentinel://h:1/0?master=m&password=s3cret",           // the servers' password goes before the @
		"redis-sentinel://h:1/0?master=m&addr=h:2",                  // Sentinels go in the host list
		"redis-sentinel://h:1/0?master=m&master_name=n",             // two names
		"redis-sentinel://:s3cret@h:1/0?master=m&bogus=1",           // not a go-redis option
		"redis-sentinel://:s3cret@h:1/0?master=m&dial_timeout=soon", // not a duration
	} {
		_, err := parseSentinelURL(bad)
		if err == nil {
			t.Errorf("%s: accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error quotes the password: %v", bad, err)
		}
		t.Logf("%s: %v", bad, err)
	}
	if !IsSentinelURL("redis-sentinel://h/0?master=m") || !IsSentinelURL("rediss-sentinel://h/0?master=m") || IsSentinelURL("redis://h/0") {
		t.Fatal("IsSentinelURL")
	}
}

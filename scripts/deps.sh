#!/usr/bin/env bash
# deps.sh FLAVOR -- build the third-party libraries kube-eventer links against
# and print the install prefix on stdout.
#
#   FLAVOR musl   static libraries built with musl-gcc (the shipped binary)
#   FLAVOR glibc  the same sources built with gcc (sanitizer/valgrind builds)
#
# Sources are upstream release tarballs as Debian's archive carries them
# ("orig" tarballs), pinned by version and sha256.  Downloads and installed
# prefixes are cached outside the work tree, keyed on this file's contents
# and the patches in scripts/patches/ (see each for why it exists),
# so a warm run costs milliseconds and any change to versions or build
# options rebuilds.
#
# Environment:
#   KE_CACHE        cache folder (default ${XDG_CACHE_HOME:-~/.cache}/kube-eventer)
#   DEBIAN_MIRROR   archive base URL (default: the Debian archive this
#                   machine's apt is configured with, read from apt itself)
#   KE_DEPS_JOBS    parallel make jobs (default: number of CPUs)
set -euo pipefail

flavor=${1:-musl}
case $flavor in
musl) cc=musl-gcc; cflags="-Os -fno-asynchronous-unwind-tables -ffunction-sections -fdata-sections" ;;
glibc) cc=gcc; cflags="-O1 -g -fno-omit-frame-pointer" ;;
*) echo "deps.sh: unknown flavor '$flavor' (musl or glibc)" >&2; exit 2 ;;
esac

# The archive comes from apt's own configuration (sources.list, deb822
# .sources, mirrors and proxies included): the first configured index of a
# Debian "main" suite that is not a security archive, cut at /dists/.
apt_archive() {
  apt-get indextargets --format '$(URI)' 'Created-By: Packages' 2>/dev/null |
    grep -v -- '-security/' | grep '/dists/[^/]*/main/' | head -n 1 | sed 's,/dists/.*,,'
}
mirror=${DEBIAN_MIRROR:-}
cache=${KE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-eventer}
jobs=${KE_DEPS_JOBS:-$(nproc 2>/dev/null || echo 2)}
here=$(cd "$(dirname "$0")" && pwd)

# name version pool-path sha256
pins=(
  "mbedtls 3.6.6 main/m/mbedtls/mbedtls_3.6.6.orig.tar.bz2 8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a"
  "curl 8.14.1 main/c/curl/curl_8.14.1.orig.tar.gz 6766ada7101d292b42b8b15681120acd68effa4a9660935853cf6d61f0d984d4"
  "cjson 1.7.18 main/c/cjson/cjson_1.7.18.orig.tar.gz 3aa806844a03442c00769b83e99970be70fbef03735ff898f4811dd03b9f5ee5"
  "libyaml 0.2.5 main/liby/libyaml/libyaml_0.2.5.orig.tar.gz fa240dbf262be053f3898006d502d514936c818e422afdcf33921c63bed9bf2e"
  "lz4 1.10.0 main/l/lz4/lz4_1.10.0.orig.tar.gz 537512904744b35e232912055ccf8ec66d768639ff3abe5788d90d792ec5f48b"
  # compression=gzip for kafka (zlib)
  "zlib 1.3.1 main/z/zlib/zlib_1.3.dfsg+really1.3.1.orig.tar.gz 60dd315c07f616887caa029408308a018ace66e3d142726a97db164b3b8f69fb"
)

key=$(cat "$here/deps.sh" "$here"/patches/*.patch | sha256sum | cut -c1-12)
prefix=$cache/prefix/$flavor-$key
if [ -f "$prefix/.done" ]; then
  touch "$prefix/.done" # last used: see the pruning below
  echo "$prefix"
  exit 0
fi

log() { echo "deps: $*" >&2; }

need_pkgs=()
command -v "$cc" >/dev/null || need_pkgs+=(musl-tools musl-dev)
command -v python3 >/dev/null || need_pkgs+=(python3)
command -v make >/dev/null || need_pkgs+=(make)
command -v bzip2 >/dev/null || need_pkgs+=(bzip2)
command -v patch >/dev/null || need_pkgs+=(patch)
command -v curl >/dev/null || command -v wget >/dev/null || need_pkgs+=(curl)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

fetch() { # url dest
  if command -v curl >/dev/null; then curl -fsSL --retry 3 -o "$2" "$1"
  else wget -q -O "$2" "$1"; fi
}

mkdir -p "$cache/src"
srcfile() { # name -> cached tarball path, downloaded and verified
  local line name ver path sum file
  for line in "${pins[@]}"; do
    read -r name ver path sum <<<"$line"
    [ "$name" = "$1" ] || continue
    file=$cache/src/${path##*/}
    if [ ! -f "$file" ] || ! echo "$sum  $file" | sha256sum -c --status; then
      [ -n "$mirror" ] || mirror=$(apt_archive)
      if [ -z "$mirror" ]; then
        log "no Debian archive found in apt's configuration; set DEBIAN_MIRROR"; exit 1
      fi
      log "downloading $mirror/pool/$path"
      fetch "$mirror/pool/$path" "$file.part" || {
        log "download failed: $mirror/pool/$path"
        log "set DEBIAN_MIRROR to an archive (or a snapshot of one) that still carries $name $ver"
        exit 1; }
      if ! echo "$sum  $file.part" | sha256sum -c --status; then
        log "sha256 mismatch for ${path##*/} (expected $sum)"; rm -f "$file.part"; exit 1
      fi
      mv "$file.part" "$file"
    fi
    echo "$file"
    return
  done
  log "no pin for $1"; exit 1
}

t0=$(date +%s)
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/prefix
mkdir -p "$stage/include" "$stage/lib"

# --- mbedTLS: TLS 1.2 + 1.3 client only ---------------------------------
log "building mbedtls ($flavor)"
tar -C "$work" -xjf "$(srcfile mbedtls)"
(
  cd "$work"/mbedtls-*
  cfg="python3 scripts/config.py"
  for sym in \
    MBEDTLS_CIPHER_MODE_CFB MBEDTLS_CIPHER_MODE_OFB MBEDTLS_CIPHER_MODE_XTS \
    MBEDTLS_CIPHER_PADDING_ONE_AND_ZEROS MBEDTLS_CIPHER_PADDING_ZEROS_AND_LEN \
    MBEDTLS_CIPHER_PADDING_ZEROS \
    MBEDTLS_ECP_DP_SECP192R1_ENABLED MBEDTLS_ECP_DP_SECP224R1_ENABLED \
    MBEDTLS_ECP_DP_SECP192K1_ENABLED MBEDTLS_ECP_DP_SECP224K1_ENABLED \
    MBEDTLS_ECP_DP_SECP256K1_ENABLED MBEDTLS_ECP_DP_BP256R1_ENABLED \
    MBEDTLS_ECP_DP_BP384R1_ENABLED MBEDTLS_ECP_DP_BP512R1_ENABLED \
    MBEDTLS_ECP_DP_CURVE448_ENABLED \
    MBEDTLS_KEY_EXCHANGE_PSK_ENABLED MBEDTLS_KEY_EXCHANGE_DHE_PSK_ENABLED \
    MBEDTLS_KEY_EXCHANGE_ECDHE_PSK_ENABLED MBEDTLS_KEY_EXCHANGE_RSA_PSK_ENABLED \
    MBEDTLS_KEY_EXCHANGE_RSA_ENABLED MBEDTLS_KEY_EXCHANGE_DHE_RSA_ENABLED \
    MBEDTLS_KEY_EXCHANGE_ECDH_ECDSA_ENABLED MBEDTLS_KEY_EXCHANGE_ECDH_RSA_ENABLED \
    MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_ENABLED \
    MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED \
    MBEDTLS_GENPRIME MBEDTLS_PK_RSA_ALT_SUPPORT MBEDTLS_SELF_TEST \
    MBEDTLS_SSL_DTLS_CONNECTION_ID MBEDTLS_SSL_DTLS_CONNECTION_ID_COMPAT \
    MBEDTLS_SSL_CONTEXT_SERIALIZATION MBEDTLS_SSL_RENEGOTIATION \
    MBEDTLS_SSL_KEYING_MATERIAL_EXPORT MBEDTLS_SSL_PROTO_DTLS \
    MBEDTLS_SSL_DTLS_ANTI_REPLAY MBEDTLS_SSL_DTLS_HELLO_VERIFY \
    MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE MBEDTLS_SSL_SESSION_TICKETS \
    MBEDTLS_VERSION_FEATURES MBEDTLS_PADLOCK_C MBEDTLS_AESCE_C \
    MBEDTLS_CAMELLIA_C MBEDTLS_ARIA_C MBEDTLS_CCM_C MBEDTLS_CMAC_C \
    MBEDTLS_DES_C MBEDTLS_DHM_C MBEDTLS_ECJPAKE_C MBEDTLS_LMS_C \
    MBEDTLS_NIST_KW_C MBEDTLS_NET_C MBEDTLS_PEM_WRITE_C MBEDTLS_PKCS5_C \
    MBEDTLS_PKCS7_C MBEDTLS_PKCS12_C MBEDTLS_PSA_CRYPTO_STORAGE_C \
    MBEDTLS_PSA_ITS_FILE_C MBEDTLS_RIPEMD160_C MBEDTLS_SHA3_C \
    MBEDTLS_SSL_CACHE_C MBEDTLS_SSL_COOKIE_C MBEDTLS_SSL_TICKET_C \
    MBEDTLS_SSL_SRV_C MBEDTLS_TIMING_C MBEDTLS_X509_CRL_PARSE_C \
    MBEDTLS_X509_CSR_PARSE_C MBEDTLS_X509_CREATE_C MBEDTLS_X509_CRT_WRITE_C \
    MBEDTLS_X509_CSR_WRITE_C MBEDTLS_DEBUG_C; do
    $cfg unset "$sym"
  done
  make -s -j"$jobs" -C library CC="$cc" CFLAGS="$cflags" static >&2
  cp -r include/mbedtls include/psa "$stage/include/"
  cp library/libmbedtls.a library/libmbedx509.a library/libmbedcrypto.a "$stage/lib/"
)

# --- cJSON: one file -----------------------------------------------------
log "building cjson ($flavor)"
tar -C "$work" -xzf "$(srcfile cjson)"
(
  cd "$work"/cJSON-*
  $cc $cflags -std=c89 -c cJSON.c -o cJSON.o
  ar rcs "$stage/lib/libcjson.a" cJSON.o
  mkdir -p "$stage/include/cjson"
  cp cJSON.h "$stage/include/cjson/"
)

# --- libyaml: compiled directly, no configure ----------------------------
log "building libyaml ($flavor)"
tar -C "$work" -xzf "$(srcfile libyaml)"
(
  cd "$work"/libyaml-*
  objs=()
  for f in api reader scanner parser loader writer emitter dumper; do
    $cc $cflags -Iinclude -DYAML_DECLARE_STATIC -DYAML_VERSION_MAJOR=0 \
      -DYAML_VERSION_MINOR=2 -DYAML_VERSION_PATCH=5 \
      '-DYAML_VERSION_STRING="0.2.5"' -c src/$f.c -o $f.o
    objs+=($f.o)
  done
  ar rcs "$stage/lib/libyaml.a" "${objs[@]}"
  cp include/yaml.h "$stage/include/"
)

# --- lz4 (SLS bodies: the block format; kafka's compression=lz4: the frame
# format, lz4frame.c with lz4hc.c and xxhash.c) and zlib (kafka's gzip) -------
# Size (stripped, musl): both codecs add ~45 KiB with these flags, ~94 KiB
# without: lz4's LZ4_FORCE_INLINE copies its compressor into every entry
# point (static instead: one copy, a little slower), and zlib's CRC tables
# are computed at first use instead of shipped (DYNAMIC_CRC_TABLE: the one
# thread that compresses is the loop's). inflate is built too, for the unit
# tests: the binary links only what it calls.
log "building lz4 ($flavor)"
tar -C "$work" -xzf "$(srcfile lz4)"
(
  cd "$work"/lz4-*/lib
  lz4flags="$cflags -std=c99 -DLZ4_FORCE_INLINE=static"
  for f in lz4 lz4frame lz4hc xxhash; do
    $cc $lz4flags -c $f.c -o $f.o
  done
  ar rcs "$stage/lib/liblz4.a" lz4.o
  ar rcs "$stage/lib/liblz4frame.a" lz4frame.o lz4hc.o xxhash.o
  cp lz4.h lz4frame.h lz4hc.h xxhash.h "$stage/include/"
)
log "building zlib ($flavor)"
tar -C "$work" -xzf "$(srcfile zlib)"
(
  cd "$work"/zlib-*
  objs=()
  for f in adler32 crc32 deflate trees zutil inflate inffast inftrees; do
    $cc $cflags -DDYNAMIC_CRC_TABLE -c $f.c -o $f.o
    objs+=($f.o)
  done
  ar rcs "$stage/lib/libz.a" "${objs[@]}"
  cp zlib.h zconf.h "$stage/include/"
)

# --- curl: HTTP/HTTPS on mbedTLS, proxy + IPv6 + threaded resolver -------
log "building curl ($flavor)"
tar -C "$work" -xzf "$(srcfile curl)"
(
  cd "$work"/curl-*
  for p in "$here"/patches/curl-*.patch; do patch -s -p1 < "$p" >&2; done
  CC=$cc CFLAGS="$cflags" CPPFLAGS="-I$stage/include" LDFLAGS="-L$stage/lib" \
  ./configure -q --prefix="$stage" --disable-shared --enable-static \
    --with-mbedtls="$stage" --without-openssl \
    --enable-http --enable-proxy --enable-ipv6 --enable-threaded-resolver \
    --disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp \
    --disable-dict --disable-telnet --disable-tftp --disable-pop3 --disable-imap \
    --disable-smb --disable-smtp --disable-gopher --disable-mqtt --disable-ipfs \
    --disable-websockets --disable-manual --disable-docs --disable-ntlm \
    --disable-kerberos-auth --disable-negotiate-auth --disable-aws \
    --disable-alt-svc --disable-hsts --disable-cookies --disable-doh \
    --disable-mime --disable-form-api --disable-netrc --disable-progress-meter \
    --disable-tls-srp --disable-libcurl-option --disable-sspi --disable-verbose \
    --disable-bindlocal --disable-unix-sockets --disable-ca-search \
    --without-zlib --without-brotli --without-zstd --without-nghttp2 \
    --without-libpsl --without-libidn2 --without-librtmp --without-libssh2 \
    --without-ca-bundle --without-ca-path >&2
  make -s -j"$jobs" -C lib libcurl.la >&2
  cp lib/.libs/libcurl.a "$stage/lib/"
  mkdir -p "$stage/include/curl"
  cp include/curl/*.h "$stage/include/curl/"
)

mkdir -p "$cache/prefix"
rm -rf "$prefix"
touch "$stage/.done"
mv "$stage" "$prefix"
log "$flavor dependencies built in $(( $(date +%s) - t0 ))s -> $prefix"
# Each edit of this file or of a patch makes a new prefix: drop this flavor's
# prefixes that no build has used for 14 days (other checkouts keep theirs).
for old in "$cache/prefix/$flavor"-*; do
  if [ "$old" != "$prefix" ] && [ -z "$(find "$old/.done" -mtime -14 2>/dev/null)" ]; then
    log "removing $old (unused for 14 days)"
    rm -rf "$old"
  fi
done
echo "$prefix"

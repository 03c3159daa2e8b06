#!/usr/bin/env bash
# A three-organization Hyperledger Fabric v3.1 consortium on loopback, from
# Fabric's release binaries (no Docker): one Raft orderer (or three), one
# peer per organization, the channel, and SRE-Llama's chaincode run as a
# service. up returns once every organization's gateway has committed a
# transaction endorsed by a majority of the organizations.
#
#   FABRIC_BIN=~/fabric/bin scripts/network.sh up
#   scripts/network.sh status
#   scripts/network.sh deploy kvput ./test/kvput   # another Go ccaas chaincode
#   scripts/network.sh down                        # stop what up started
#   scripts/network.sh clean                       # down, then delete the work dir
#
# Settings (environment):
#   FABRIC_BIN            folder with peer, orderer, configtxgen, cryptogen, osnadmin (required for up/deploy)
#   FABRIC_CFG_PATH       folder with Fabric's core.yaml and orderer.yaml (default: $FABRIC_BIN/../config,
#                         where a release tarball puts them)
#   FABRIC_CCAAS_BUILDER  the chaincode-as-a-service builder, a folder with bin/{detect,build,release}
#                         (default: $FABRIC_BIN/../builders/ccaas, as in a release tarball)
#   NETWORK_DIR           work folder for crypto material, ledgers, logs, PID files and the
#                         per-organization node configurations (default: out/fabric in the repository)
#   PORT_BASE             first of the loopback ports used (default 27000; see ports below)
#   CHANNEL               channel name (default consortium)
#   BATCH_TIMEOUT         orderer batch timeout (default 100ms)
#   ORDERERS              Raft orderers: 1 (default), 3 or 5; a majority of them must run
#   READY_TIMEOUT         seconds up waits for every organization's gateway to commit a
#                         majority-endorsed transaction (default 180)
#
# Ports: orderer k (1..ORDERERS) uses PORT_BASE+10*(k-1) plus 1 (gRPC and
# Raft), 2 (admin), 3 (operations).
# Organization i (1..3) uses PORT_BASE+100*i plus 1 (peer), 2 (peer's
# chaincode listener), 3 (operations), 4 and up (chaincode servers), 10
# (the node's libp2p host) and 11 (the node's HTTP API).
#
# Every process this script starts has its PID in $NETWORK_DIR/pids; down
# stops those PIDs and nothing else.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NETWORK_DIR=${NETWORK_DIR:-$REPO/out/fabric}
PORT_BASE=${PORT_BASE:-27000}
CHANNEL=${CHANNEL:-consortium}
BATCH_TIMEOUT=${BATCH_TIMEOUT:-100ms}
ORDERERS=${ORDERERS:-1}
READY_TIMEOUT=${READY_TIMEOUT:-180}
ORGS=(1 2 3)
# The chaincode servers of one organization are numbered in the order
# chaincodes are deployed; this file remembers which offset each one has.
CC_OFFSETS=$NETWORK_DIR/chaincodes/offsets

log() { printf '%s network: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# ---------------------------------------------------------------- settings

require_fabric() {
	[[ -n ${FABRIC_BIN:-} ]] || die "FABRIC_BIN is not set: point it at the bin/ folder of a Fabric v3.1 release (peer, orderer, configtxgen, cryptogen, osnadmin)"
	local b
	for b in peer orderer configtxgen cryptogen osnadmin; do
		[[ -x $FABRIC_BIN/$b ]] || die "$FABRIC_BIN/$b is missing or not executable"
	done
	FABRIC_CONFIG=${FABRIC_CFG_PATH:-$FABRIC_BIN/../config}
	[[ -f $FABRIC_CONFIG/core.yaml && -f $FABRIC_CONFIG/orderer.yaml ]] ||
		die "no core.yaml and orderer.yaml in $FABRIC_CONFIG: set FABRIC_CFG_PATH to the config/ folder of the Fabric release"
	CCAAS_BUILDER=${FABRIC_CCAAS_BUILDER:-$FABRIC_BIN/../builders/ccaas}
	for b in detect build release; do
		[[ -x $CCAAS_BUILDER/bin/$b ]] || die "$CCAAS_BUILDER/bin/$b is missing: set FABRIC_CCAAS_BUILDER to the chaincode-as-a-service builder (builders/ccaas in a release)"
	done
	FABRIC_CONFIG=$(cd "$FABRIC_CONFIG" && pwd)
	CCAAS_BUILDER=$(cd "$CCAAS_BUILDER" && pwd)
	command -v curl >/dev/null || die "curl is needed for the health checks"
	command -v go >/dev/null || die "go is needed to build the chaincode"
}

crypto() { echo "$NETWORK_DIR/crypto"; }
org_domain() { echo "org$1.example.com"; }
org_msp() { echo "Org$1MSP"; }
peer_port() { echo $((PORT_BASE + 100 * $1 + 1)); }
peer_cc_port() { echo $((PORT_BASE + 100 * $1 + 2)); }
peer_ops_port() { echo $((PORT_BASE + 100 * $1 + 3)); }
node_p2p_port() { echo $((PORT_BASE + 100 * $1 + 10)); }
node_api_port() { echo $((PORT_BASE + 100 * $1 + 11)); }
# The orderer helpers take the orderer's number, 1 when omitted. The first
# is named orderer, the others orderer2, orderer3, ... (host, PID and
# folder names alike).
orderer_name() { if ((${1:-1} == 1)); then echo orderer; else echo "orderer$1"; fi; }
orderer_port() { echo $((PORT_BASE + 10 * (${1:-1} - 1) + 1)); }
orderer_admin_port() { echo $((PORT_BASE + 10 * (${1:-1} - 1) + 2)); }
orderer_ops_port() { echo $((PORT_BASE + 10 * (${1:-1} - 1) + 3)); }
orderer_dir() { echo "$(crypto)/ordererOrganizations/example.com/orderers/$(orderer_name "${1:-1}").example.com"; }
orderer_ca() { echo "$(orderer_dir 1)/tls/ca.crt"; } # one TLS CA issues every orderer's certificate
peer_dir() { echo "$(crypto)/peerOrganizations/$(org_domain "$1")/peers/peer0.$(org_domain "$1")"; }
peer_tls_ca() { echo "$(peer_dir "$1")/tls/ca.crt"; }
user_dir() { echo "$(crypto)/peerOrganizations/$(org_domain "$1")/users/$2@$(org_domain "$1")"; }

# ---------------------------------------------------------------- processes

pid_file() { echo "$NETWORK_DIR/pids/$1.pid"; }

# alive NAME: the process recorded for NAME runs and is still the program
# that was started (a reused PID is not ours). A program whose file was
# replaced since (a rebuilt chaincode) shows as "PATH (deleted)".
alive() {
	local f pid exe running
	f=$(pid_file "$1")
	[[ -f $f ]] || return 1
	read -r pid exe <"$f"
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
	running=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
	[[ $running == "$exe" || $running == "$exe (deleted)" ]]
}

# start NAME PROGRAM ARGS...: runs PROGRAM in the background with its
# output in logs/NAME.log and records its PID and executable.
start() {
	local name=$1
	shift
	if alive "$name"; then
		log "$name already runs (PID $(cut -d' ' -f1 "$(pid_file "$name")"))"
		return 0
	fi
	mkdir -p "$NETWORK_DIR/pids" "$NETWORK_DIR/logs"
	local exe
	exe=$(readlink -f "$(command -v "$1")")
	"$@" </dev/null >>"$NETWORK_DIR/logs/$name.log" 2>&1 &
	echo "$! $exe" >"$(pid_file "$name")"
	log "started $name (PID $!), log $NETWORK_DIR/logs/$name.log"
}

# require_free NAME PORT...: unless NAME already runs, its ports must be
# free; a listener there is another network (say, one whose test was killed
# before its clean-up), and health checks would pass against it.
require_free() {
	local name=$1 port
	shift
	alive "$name" && return 0
	for port in "$@"; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			die "port $port, needed by $name, is in use by a process this script did not start in $NETWORK_DIR: stop it or choose another PORT_BASE"
		fi
	done
}

# stop NAME: TERM, then KILL after 10 s, only if the PID is still ours.
stop() {
	local name=$1 f pid
	f=$(pid_file "$name")
	[[ -f $f ]] || return 0
	if alive "$name"; then
		pid=$(cut -d' ' -f1 "$f")
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			alive "$name" || break
			sleep 0.1
		done
		if alive "$name"; then
			log "$name (PID $pid) did not stop in 10 s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		log "stopped $name (PID $pid)"
	fi
	rm -f "$f"
}

# wait_until WHAT SECONDS COMMAND...: retries COMMAND every half second.
wait_until() {
	local what=$1 secs=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || die "timed out after ${secs}s waiting for $what"
		sleep 0.5
	done
	log "ready: $what"
}

healthy() { [[ $(curl -fsS "http://127.0.0.1:$1/healthz" 2>/dev/null) == *'"OK"'* ]]; }

# ---------------------------------------------------------------- configuration

write_crypto_config() {
	local f=$NETWORK_DIR/config/crypto-config.yaml i k
	{
		cat <<-EOF
			# Written by scripts/network.sh: cryptogen's input. NodeOUs give every
			# certificate its role (admin, client, peer, orderer), which the
			# chaincode's access checks read.
			OrdererOrgs:
			  - Name: Orderer
			    Domain: example.com
			    EnableNodeOUs: true
			    Specs:
		EOF
		for ((k = 1; k <= ORDERERS; k++)); do
			cat <<-EOF
				      - Hostname: $(orderer_name "$k")
				        SANS: [127.0.0.1, localhost]
			EOF
		done
		echo "PeerOrgs:"
		for i in "${ORGS[@]}"; do
			cat <<-EOF
				  - Name: Org$i
				    Domain: $(org_domain "$i")
				    EnableNodeOUs: true
				    Template:
				      Count: 1
				      SANS: [127.0.0.1, localhost]
				    Users:
				      Count: 1
			EOF
		done
	} >"$f"
}

# write_configtx: the channel's genesis profile. Application policies make
# both chaincode endorsement and lifecycle changes need a majority of the
# three organizations.
write_configtx() {
	local f=$NETWORK_DIR/config/configtx.yaml i k msp od endpoints=""
	for ((k = 1; k <= ORDERERS; k++)); do endpoints+="${endpoints:+, }127.0.0.1:$(orderer_port "$k")"; done
	{
		cat <<-EOF
			# Written by scripts/network.sh: configtxgen's input for the channel.
			Organizations:
			  - &OrdererOrg
			    Name: OrdererMSP
			    ID: OrdererMSP
			    MSPDir: $(crypto)/ordererOrganizations/example.com/msp
			    Policies:
			      Readers: {Type: Signature, Rule: "OR('OrdererMSP.member')"}
			      Writers: {Type: Signature, Rule: "OR('OrdererMSP.member')"}
			      Admins: {Type: Signature, Rule: "OR('OrdererMSP.admin')"}
			    OrdererEndpoints: [$endpoints]
		EOF
		for i in "${ORGS[@]}"; do
			msp=$(org_msp "$i")
			cat <<-EOF
				  - &Org$i
				    Name: $msp
				    ID: $msp
				    MSPDir: $(crypto)/peerOrganizations/$(org_domain "$i")/msp
				    Policies:
				      Readers: {Type: Signature, Rule: "OR('$msp.admin', '$msp.peer', '$msp.client')"}
				      Writers: {Type: Signature, Rule: "OR('$msp.admin', '$msp.client')"}
				      Admins: {Type: Signature, Rule: "OR('$msp.admin')"}
				      Endorsement: {Type: Signature, Rule: "OR('$msp.peer')"}
				    AnchorPeers:
				      - {Host: 127.0.0.1, Port: $(peer_port "$i")}
			EOF
		done
		cat <<-EOF
			Profiles:
			  ThreeOrgConsortium:
			    Capabilities: {V3_0: true}
			    Policies:
			      Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
			      Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
			      Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
			    Orderer:
			      OrdererType: etcdraft
			      BatchTimeout: $BATCH_TIMEOUT
			      BatchSize: {MaxMessageCount: 500, AbsoluteMaxBytes: 10 MB, PreferredMaxBytes: 2 MB}
			      EtcdRaft:
			        Consenters:
		EOF
		for ((k = 1; k <= ORDERERS; k++)); do
			od=$(orderer_dir "$k")
			cat <<-EOF
				          - {Host: 127.0.0.1, Port: $(orderer_port "$k"), ClientTLSCert: $od/tls/server.crt, ServerTLSCert: $od/tls/server.crt}
			EOF
		done
		cat <<-EOF
			      Organizations: [*OrdererOrg]
			      Capabilities: {V2_0: true}
			      Policies:
			        Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
			        Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
			        Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
			        BlockValidation: {Type: ImplicitMeta, Rule: "ANY Writers"}
			    Application:
			      Organizations: [$(for i in "${ORGS[@]}"; do printf '*Org%s%s' "$i" "$([[ $i == "${ORGS[-1]}" ]] || echo ', ')"; done)]
			      Capabilities: {V2_5: true}
			      Policies:
			        Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
			        Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
			        Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
			        LifecycleEndorsement: {Type: ImplicitMeta, Rule: "MAJORITY Endorsement"}
			        Endorsement: {Type: ImplicitMeta, Rule: "MAJORITY Endorsement"}
		EOF
	} >"$f"
}

# write_core_yaml derives the peers' core.yaml from the installed one with
# two changes: no Docker endpoint (so no Docker health check) and the
# chaincode-as-a-service builder as the only external builder. Every other
# per-peer setting is an environment override (see start_peer).
write_core_yaml() {
	local out=$NETWORK_DIR/config/core.yaml
	awk -v builder="$CCAAS_BUILDER" '
		function indent(s) { match(s, /^ */); return RLENGTH }
		skipping && (/^[[:space:]]*$/ || /^[[:space:]]*#/ || indent($0) > base) { next }
		{ skipping = 0 }
		/^vm:/ { invm = 1 }
		/^[a-z]/ && !/^vm:/ { invm = 0 }
		invm && /^  endpoint:/ { print "  endpoint: \"\""; edited_vm = 1; next }
		/^  externalBuilders:/ {
			print "  externalBuilders:"
			print "    - name: ccaas"
			print "      path: " builder
			print "      propagateEnvironment: [CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG]"
			print ""
			skipping = 1; base = 2; edited_builders = 1; next
		}
		{ print }
		END { if (!edited_vm || !edited_builders) exit 3 }
	' "$FABRIC_CONFIG/core.yaml" >"$out" ||
		die "$FABRIC_CONFIG/core.yaml has no vm.endpoint or chaincode.externalBuilders entry to set"
}

# ---------------------------------------------------------------- network

# shellcheck disable=SC2155 # the port and path helpers are arithmetic and string joins that cannot fail
orderer_env() {
	local k=$1 od data
	od=$(orderer_dir "$k")
	data=$NETWORK_DIR/$(orderer_name "$k")
	export FABRIC_CFG_PATH=$FABRIC_CONFIG
	export ORDERER_GENERAL_LISTENADDRESS=127.0.0.1
	export ORDERER_GENERAL_LISTENPORT=$(orderer_port "$k")
	export ORDERER_GENERAL_LOCALMSPID=OrdererMSP
	export ORDERER_GENERAL_LOCALMSPDIR=$od/msp
	export ORDERER_GENERAL_BOOTSTRAPMETHOD=none
	export ORDERER_GENERAL_TLS_ENABLED=true
	export ORDERER_GENERAL_TLS_PRIVATEKEY=$od/tls/server.key
	export ORDERER_GENERAL_TLS_CERTIFICATE=$od/tls/server.crt
	export ORDERER_GENERAL_TLS_ROOTCAS=[$od/tls/ca.crt]
	export ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE=$od/tls/server.crt
	export ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY=$od/tls/server.key
	export ORDERER_GENERAL_CLUSTER_ROOTCAS=[$od/tls/ca.crt]
	export ORDERER_CHANNELPARTICIPATION_ENABLED=true
	export ORDERER_FILELEDGER_LOCATION=$data/ledger
	export ORDERER_CONSENSUS_WALDIR=$data/etcdraft/wal
	export ORDERER_CONSENSUS_SNAPDIR=$data/etcdraft/snapshot
	export ORDERER_ADMIN_LISTENADDRESS=127.0.0.1:$(orderer_admin_port "$k")
	export ORDERER_ADMIN_TLS_ENABLED=true
	export ORDERER_ADMIN_TLS_PRIVATEKEY=$od/tls/server.key
	export ORDERER_ADMIN_TLS_CERTIFICATE=$od/tls/server.crt
	export ORDERER_ADMIN_TLS_ROOTCAS=[$od/tls/ca.crt]
	export ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true
	export ORDERER_ADMIN_TLS_CLIENTROOTCAS=[$od/tls/ca.crt]
	export ORDERER_OPERATIONS_LISTENADDRESS=127.0.0.1:$(orderer_ops_port "$k")
}

start_orderer() {
	local k=$1 name
	name=$(orderer_name "$k")
	mkdir -p "$NETWORK_DIR/$name"
	require_free "$name" "$(orderer_port "$k")" "$(orderer_admin_port "$k")" "$(orderer_ops_port "$k")"
	(orderer_env "$k" && start "$name" "$FABRIC_BIN/orderer")
}

osnadmin_args() {
	local admin
	admin=$(crypto)/ordererOrganizations/example.com/users/Admin@example.com/tls
	echo -o "127.0.0.1:$(orderer_admin_port "$1")" --ca-file "$(orderer_ca)" --client-cert "$admin/client.crt" --client-key "$admin/client.key"
}

# join_orderer K: orderer K joins the channel as a consenter (Raft elects
# a leader once a majority of the consenters has joined).
join_orderer() {
	local k=$1 args name
	name=$(orderer_name "$k")
	read -ra args <<<"$(osnadmin_args "$k")"
	if "$FABRIC_BIN/osnadmin" channel list "${args[@]}" 2>/dev/null | grep -q "\"name\": *\"$CHANNEL\""; then
		log "$name already serves channel $CHANNEL"
		return
	fi
	"$FABRIC_BIN/osnadmin" channel join --channelID "$CHANNEL" --config-block "$NETWORK_DIR/channel/$CHANNEL.block" "${args[@]}" >/dev/null
}

start_orderers() {
	local k args
	for ((k = 1; k <= ORDERERS; k++)); do start_orderer "$k"; done
	for ((k = 1; k <= ORDERERS; k++)); do
		wait_until "$(orderer_name "$k") healthz on :$(orderer_ops_port "$k")" 60 healthy "$(orderer_ops_port "$k")"
	done
	for ((k = 1; k <= ORDERERS; k++)); do join_orderer "$k"; done
	for ((k = 1; k <= ORDERERS; k++)); do
		read -ra args <<<"$(osnadmin_args "$k")"
		wait_until "$(orderer_name "$k") to serve channel $CHANNEL as an active consenter" 60 orderer_channel_active "${args[@]}"
	done
}

# shellcheck disable=SC2317 # called through wait_until
orderer_channel_active() {
	local info
	info=$("$FABRIC_BIN/osnadmin" channel list --channelID "$CHANNEL" "$@" 2>/dev/null) || return 1
	grep -q '"consensusRelation": *"consenter"' <<<"$info" && grep -q '"status": *"active"' <<<"$info"
}

# shellcheck disable=SC2155 # the port and path helpers are arithmetic and string joins that cannot fail
peer_env() {
	local i=$1 pd
	pd=$(peer_dir "$i")
	export FABRIC_CFG_PATH=$NETWORK_DIR/config
	export CORE_PEER_ID=peer0.$(org_domain "$i")
	export CORE_PEER_ADDRESS=127.0.0.1:$(peer_port "$i")
	export CORE_PEER_LISTENADDRESS=127.0.0.1:$(peer_port "$i")
	export CORE_PEER_CHAINCODEADDRESS=127.0.0.1:$(peer_cc_port "$i")
	export CORE_PEER_CHAINCODELISTENADDRESS=127.0.0.1:$(peer_cc_port "$i")
	export CORE_PEER_GOSSIP_BOOTSTRAP=127.0.0.1:$(peer_port "$i")
	export CORE_PEER_GOSSIP_EXTERNALENDPOINT=127.0.0.1:$(peer_port "$i")
	# Fabric's default is 25 s. The peers join the channel one after
	# another, so a peer's first contacts with other organizations' anchor
	# peers can fail; until gossip retries, the gateway does not know those
	# peers and endorsement across organizations fails.
	export CORE_PEER_GOSSIP_RECONNECTINTERVAL=5s
	export CORE_PEER_LOCALMSPID=$(org_msp "$i")
	export CORE_PEER_MSPCONFIGPATH=$pd/msp
	export CORE_PEER_TLS_ENABLED=true
	export CORE_PEER_TLS_CERT_FILE=$pd/tls/server.crt
	export CORE_PEER_TLS_KEY_FILE=$pd/tls/server.key
	export CORE_PEER_TLS_ROOTCERT_FILE=$pd/tls/ca.crt
	export CORE_PEER_FILESYSTEMPATH=$NETWORK_DIR/peers/org$i/data
	export CORE_LEDGER_SNAPSHOTS_ROOTDIR=$NETWORK_DIR/peers/org$i/snapshots
	export CORE_OPERATIONS_LISTENADDRESS=127.0.0.1:$(peer_ops_port "$i")
	# No Docker: the derived core.yaml has no endpoint either.
	export CORE_VM_ENDPOINT=
}

start_peer() {
	local i=$1
	mkdir -p "$NETWORK_DIR/peers/org$i"
	require_free "peer$i" "$(peer_port "$i")" "$(peer_cc_port "$i")" "$(peer_ops_port "$i")"
	(peer_env "$i" && start "peer$i" "$FABRIC_BIN/peer" node start)
}

# admin_env I: the peer CLI acting as organization I's admin on its peer.
# shellcheck disable=SC2155 # the port and path helpers are arithmetic and string joins that cannot fail
admin_env() {
	local i=$1
	export FABRIC_CFG_PATH=$NETWORK_DIR/config
	export CORE_PEER_LOCALMSPID=$(org_msp "$i")
	export CORE_PEER_MSPCONFIGPATH=$(user_dir "$i" Admin)/msp
	export CORE_PEER_ADDRESS=127.0.0.1:$(peer_port "$i")
	export CORE_PEER_TLS_ENABLED=true
	export CORE_PEER_TLS_ROOTCERT_FILE=$(peer_tls_ca "$i")
	export CORE_VM_ENDPOINT=
}

join_peer() {
	local i=$1
	(
		admin_env "$i"
		if "$FABRIC_BIN/peer" channel list 2>/dev/null | grep -qx "$CHANNEL"; then
			log "peer$i already joined $CHANNEL"
		else
			"$FABRIC_BIN/peer" channel join -b "$NETWORK_DIR/channel/$CHANNEL.block" 2>>"$NETWORK_DIR/logs/cli.log"
		fi
		wait_until "peer$i to join channel $CHANNEL" 60 timeout 20 "$FABRIC_BIN/peer" channel getinfo -c "$CHANNEL"
	)
}

# ---------------------------------------------------------------- chaincode

# cc_offset NAME: the chaincode's server port offset (4, 5, ...), assigned
# on first deployment.
cc_offset() {
	local name=$1 off
	mkdir -p "$(dirname "$CC_OFFSETS")"
	touch "$CC_OFFSETS"
	off=$(awk -v n="$name" '$1 == n { print $2 }' "$CC_OFFSETS")
	if [[ -z $off ]]; then
		off=$((4 + $(wc -l <"$CC_OFFSETS")))
		((off < 10)) || die "no port left for chaincode $name (at most 6 chaincodes)"
		echo "$name $off" >>"$CC_OFFSETS"
	fi
	echo "$off"
}

cc_port() { echo $((PORT_BASE + 100 * $1 + $(cc_offset "$2"))); }

# package_cc I NAME: organization I's ccaas package. It holds no code, only
# where that organization's chaincode server listens, so each organization
# has its own package (and package ID) for the same chaincode definition.
package_cc() {
	local i=$1 name=$2 dir
	dir=$NETWORK_DIR/chaincodes/$name/org$i
	if [[ ! -f $dir/package.tar.gz ]]; then
		mkdir -p "$dir/src"
		printf '{"address": "127.0.0.1:%s", "dial_timeout": "10s", "tls_required": false}\n' "$(cc_port "$i" "$name")" >"$dir/src/connection.json"
		printf '{"type": "ccaas", "label": "%s_1"}\n' "$name" >"$dir/src/metadata.json"
		# The package ID is a hash of the package: no timestamps or owners
		# in it, so packaging again gives the same ID.
		reproducible_tgz "$dir/src" "$dir/src/code.tar.gz" connection.json
		reproducible_tgz "$dir/src" "$dir/package.tar.gz" metadata.json code.tar.gz
	fi
	"$FABRIC_BIN/peer" lifecycle chaincode calculatepackageid "$dir/package.tar.gz"
}

# reproducible_tgz DIR OUT FILES...: a gzipped tar of FILES in DIR whose
# bytes depend only on their names and contents.
reproducible_tgz() {
	local dir=$1 out=$2
	shift 2
	tar -C "$dir" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=u+rw,go+r -cf - "$@" | gzip -n >"$out"
}

committed() {
	timeout 20 "$FABRIC_BIN/peer" lifecycle chaincode querycommitted -C "$CHANNEL" -n "$1" 2>/dev/null | grep -q "Version: 1, Sequence: 1"
}

# answers NAME: a query on organization I's peer reaches the chaincode
# server (contract-api's metadata function, which every contract has).
# shellcheck disable=SC2317 # called through wait_until
answers() {
	timeout 20 "$FABRIC_BIN/peer" chaincode query -C "$CHANNEL" -n "$1" -c '{"function":"org.hyperledger.fabric:GetMetadata","Args":[]}' 2>/dev/null | grep -q contracts
}

# deploy NAME GO_PACKAGE: builds the chaincode, runs one server per
# organization, installs each organization's package on its peer, approves
# the definition for every organization and commits it (endorsement by the
# channel's MAJORITY Endorsement policy).
deploy() {
	local name=$1 pkg=$2 i bin
	[[ $name =~ ^[a-z][a-z0-9_-]*$ ]] || die "chaincode name $name: use lower-case letters, digits, - and _"
	mkdir -p "$NETWORK_DIR/chaincodes/$name" "$NETWORK_DIR/logs"
	bin=$NETWORK_DIR/chaincodes/$name/$name
	log "building chaincode $name from $pkg"
	(cd "$REPO" && go build -o "$bin" "$pkg")
	local -A ids
	for i in "${ORGS[@]}"; do
		ids[$i]=$(admin_env "$i" && package_cc "$i" "$name")
		(
			admin_env "$i"
			if ! "$FABRIC_BIN/peer" lifecycle chaincode queryinstalled 2>/dev/null | grep -q "Package ID: ${ids[$i]},"; then
				"$FABRIC_BIN/peer" lifecycle chaincode install "$NETWORK_DIR/chaincodes/$name/org$i/package.tar.gz" 2>>"$NETWORK_DIR/logs/cli.log"
			fi
		)
	done
	local orderer=(-o "127.0.0.1:$(orderer_port)" --tls --cafile "$(orderer_ca)")
	for i in "${ORGS[@]}"; do
		(
			admin_env "$i"
			committed "$name" && exit 0
			"$FABRIC_BIN/peer" lifecycle chaincode approveformyorg "${orderer[@]}" -C "$CHANNEL" -n "$name" -v 1 --sequence 1 \
				--package-id "${ids[$i]}" 2>>"$NETWORK_DIR/logs/cli.log"
		)
	done
	(
		admin_env 1
		if ! committed "$name"; then
			local peers=() j
			for j in "${ORGS[@]}"; do
				peers+=(--peerAddresses "127.0.0.1:$(peer_port "$j")" --tlsRootCertFiles "$(peer_tls_ca "$j")")
			done
			wait_until "every organization to approve $name" 60 check_ready "$name"
			"$FABRIC_BIN/peer" lifecycle chaincode commit "${orderer[@]}" -C "$CHANNEL" -n "$name" -v 1 --sequence 1 "${peers[@]}" 2>>"$NETWORK_DIR/logs/cli.log"
		fi
	)
	for i in "${ORGS[@]}"; do
		(admin_env "$i" && wait_until "$name committed on peer$i" 60 committed "$name")
		start_cc_server "$i" "$name" "$bin" "${ids[$i]}"
	done
	for i in "${ORGS[@]}"; do
		(admin_env "$i" && wait_until "$name answering on peer$i" 60 answers "$name")
	done
}

# start_cc_server I NAME BIN ID: organization I's server for the chaincode.
# The peer accepts it only as the package its organization approved.
start_cc_server() {
	local i=$1 name=$2 bin=$3 id=$4 approved address
	approved=$(admin_env "$i" && timeout 20 "$FABRIC_BIN/peer" lifecycle chaincode queryapproved -C "$CHANNEL" -n "$name" -O json 2>/dev/null |
		grep -o '"package_id": *"[^"]*"' | cut -d'"' -f4) || true
	[[ $approved == "$id" ]] ||
		die "Org$i approved package '${approved:-?}' for $name, but its package now is $id: the network in $NETWORK_DIR predates this package; run clean, then up"
	require_free "$name$i" "$(cc_port "$i" "$name")"
	address=127.0.0.1:$(cc_port "$i" "$name")
	# The ID under both names: contract-api's server mode reads
	# CORE_CHAINCODE_ID_NAME, explicit shim servers CHAINCODE_ID.
	(
		export CHAINCODE_SERVER_ADDRESS=$address CHAINCODE_ID=$id CORE_CHAINCODE_ID_NAME=$id
		start "$name$i" "$bin"
	)
}

# shellcheck disable=SC2317 # called through wait_until
check_ready() {
	local out
	out=$(timeout 20 "$FABRIC_BIN/peer" lifecycle chaincode checkcommitreadiness -C "$CHANNEL" -n "$1" -v 1 --sequence 1 -O json 2>/dev/null) || return 1
	! grep -q false <<<"$out"
}

# ---------------------------------------------------------------- node configurations

# write_node_files I: organization I's ledger connections (admin and client
# identity; paths relative to the file) and its node configuration.
write_node_files() {
	local i=$1 msp dom dir rel
	msp=$(org_msp "$i")
	dom=$(org_domain "$i")
	dir=$NETWORK_DIR/orgs/$msp
	mkdir -p "$dir"
	rel=../../crypto/peerOrganizations/$dom
	local user
	for user in Admin User1; do
		local file=$dir/connection.json
		[[ $user == Admin ]] && file=$dir/connection-admin.json
		cat >"$file" <<-EOF
			{
			  "endpoint": "127.0.0.1:$(peer_port "$i")",
			  "serverName": "peer0.$dom",
			  "tlsRootCert": "$rel/peers/peer0.$dom/tls/ca.crt",
			  "mspId": "$msp",
			  "cert": "$rel/users/$user@$dom/msp/signcerts/$user@$dom-cert.pem",
			  "key": "$rel/users/$user@$dom/msp/keystore/priv_sk",
			  "channel": "$CHANNEL",
			  "chaincode": "srellama"
			}
		EOF
	done
	cat >"$NETWORK_DIR/orgs/org$i.yaml" <<-EOF
		# $msp's node on the Fabric network of scripts/network.sh. Relative
		# paths are relative to this file; SRELLAMA_* variables override.
		organization: $msp
		data_dir: ./$msp/node
		log_level: info
		ledger:
		  # The admin identity lets the node register its organization and itself.
		  connection: ./$msp/connection-admin.json
		source:
		  kind: simulator
		  history: 7d
		  step: 1m
		  simulator:
		    seed: $i
		    faults_per_day: 4
		network:
		  consortium: srellama
		  listen: [/ip4/127.0.0.1/tcp/$(node_p2p_port "$i")]
		generator:
		  kind: builtin
		  period: 30d
		rules:
		  dir: ./$msp/node/rules
		api:
		  listen: 127.0.0.1:$(node_api_port "$i")
	EOF
}

# ---------------------------------------------------------------- readiness

# wait_gateways: up is done only once each organization's gateway has
# committed a transaction that a majority of the organizations endorsed.
# Health checks and queries pass seconds before that: a gateway plans
# endorsements from what gossip has told its peer about the other
# organizations' peers, and until then refuses with "no combination of
# peers can be derived which satisfy the endorsement policy".
# scripts/readyprobe submits a transaction that writes nothing through each
# gateway in turn until it commits.
wait_gateways() {
	local probe=$NETWORK_DIR/bin/readyprobe i conns=() line
	mkdir -p "$NETWORK_DIR/bin"
	(cd "$REPO" && go build -o "$probe" ./scripts/readyprobe)
	for i in "${ORGS[@]}"; do conns+=("$NETWORK_DIR/orgs/$(org_msp "$i")/connection.json"); done
	"$probe" -timeout "${READY_TIMEOUT}s" "${conns[@]}" 2>&1 | while IFS= read -r line; do log "probe: $line"; done ||
		die "not every organization's gateway committed a majority-endorsed transaction within ${READY_TIMEOUT}s (peer logs in $NETWORK_DIR/logs)"
	log "ready: every organization's gateway commits majority-endorsed transactions"
}

# ---------------------------------------------------------------- commands

# claim_network_dir marks NETWORK_DIR as this script's (clean deletes only
# a marked folder) with the settings baked into its genesis block, which a
# later up must not contradict.
claim_network_dir() {
	local marker=$NETWORK_DIR/.srellama-network settings
	settings="PORT_BASE=$PORT_BASE CHANNEL=$CHANNEL BATCH_TIMEOUT=$BATCH_TIMEOUT"
	((ORDERERS == 1)) || settings+=" ORDERERS=$ORDERERS" # a network from before ORDERERS existed has one
	if [[ -f $marker ]]; then
		[[ $(cat "$marker") == "$settings" ]] ||
			die "$NETWORK_DIR holds a network made with $(cat "$marker"), not $settings: use those settings, or clean first"
		return
	fi
	if [[ -d $NETWORK_DIR && -n $(ls -A "$NETWORK_DIR") ]]; then
		die "$NETWORK_DIR is not empty and was not made by this script: choose another NETWORK_DIR"
	fi
	mkdir -p "$NETWORK_DIR"
	echo "$settings" >"$marker"
}

cmd_up() {
	require_fabric
	[[ $READY_TIMEOUT =~ ^[1-9][0-9]{0,4}$ ]] || die "READY_TIMEOUT=$READY_TIMEOUT: want a number of seconds"
	[[ $ORDERERS =~ ^[135]$ ]] || die "ORDERERS=$ORDERERS: want 1, 3 or 5 (Raft tolerates the loss of a minority)"
	claim_network_dir
	mkdir -p "$NETWORK_DIR/config" "$NETWORK_DIR/channel" "$NETWORK_DIR/logs"
	if [[ ! -d $(crypto) ]]; then
		write_crypto_config
		"$FABRIC_BIN/cryptogen" generate --config "$NETWORK_DIR/config/crypto-config.yaml" --output "$(crypto)" >/dev/null
		log "crypto material in $(crypto)"
	fi
	write_core_yaml
	if [[ ! -f $NETWORK_DIR/channel/$CHANNEL.block ]]; then
		write_configtx
		"$FABRIC_BIN/configtxgen" -configPath "$NETWORK_DIR/config" -profile ThreeOrgConsortium -channelID "$CHANNEL" \
			-outputBlock "$NETWORK_DIR/channel/$CHANNEL.block" 2>>"$NETWORK_DIR/logs/cli.log"
	fi
	start_orderers
	local i
	for i in "${ORGS[@]}"; do start_peer "$i"; done
	for i in "${ORGS[@]}"; do wait_until "peer$i healthz on :$(peer_ops_port "$i")" 60 healthy "$(peer_ops_port "$i")"; done
	for i in "${ORGS[@]}"; do join_peer "$i"; done
	deploy srellama ./chaincode
	for i in "${ORGS[@]}"; do write_node_files "$i"; done
	wait_gateways
	log "network up: node configurations $NETWORK_DIR/orgs/org{1,2,3}.yaml"
}

cmd_deploy() {
	(($# == 2)) || die "usage: network.sh deploy NAME GO_PACKAGE (for example: deploy kvput ./test/kvput)"
	require_fabric
	[[ -f $NETWORK_DIR/.srellama-network ]] || die "no network in $NETWORK_DIR: run up first"
	deploy "$1" "$2"
}

cmd_down() {
	local f name
	[[ -d $NETWORK_DIR/pids ]] || {
		log "nothing runs from $NETWORK_DIR"
		return
	}
	# Chaincode servers and peers first, the orderer last.
	for f in "$NETWORK_DIR"/pids/*.pid; do
		[[ -e $f ]] || continue
		name=$(basename "$f" .pid)
		[[ $name == orderer* ]] || stop "$name"
	done
	for f in "$NETWORK_DIR"/pids/orderer*.pid; do
		[[ -e $f ]] || continue
		stop "$(basename "$f" .pid)"
	done
	log "network down"
}

cmd_clean() {
	cmd_down
	if [[ -d $NETWORK_DIR ]]; then
		[[ -f $NETWORK_DIR/.srellama-network ]] || die "$NETWORK_DIR was not made by this script; not deleting it"
		rm -rf "$NETWORK_DIR"
		log "removed $NETWORK_DIR"
	fi
}

# recorded_orderers: how many orderers the network in NETWORK_DIR has, from
# its marker (status works without the settings up was given).
recorded_orderers() {
	local n
	n=$(grep -o 'ORDERERS=[0-9]*' "$NETWORK_DIR/.srellama-network" 2>/dev/null | cut -d= -f2) || true
	echo "${n:-1}"
}

cmd_status() {
	local f name code=0
	[[ -d $NETWORK_DIR/pids ]] || {
		echo "no network in $NETWORK_DIR"
		return 1
	}
	compgen -G "$NETWORK_DIR/pids/*.pid" >/dev/null || {
		echo "no process recorded in $NETWORK_DIR/pids (network down)"
		code=1
	}
	for f in "$NETWORK_DIR"/pids/*.pid; do
		[[ -e $f ]] || continue
		name=$(basename "$f" .pid)
		if alive "$name"; then
			printf '%-12s running  PID %s\n' "$name" "$(cut -d' ' -f1 "$f")"
		else
			printf '%-12s stopped\n' "$name"
			code=1
		fi
	done
	local k
	for ((k = 1; k <= $(recorded_orderers); k++)); do
		if healthy "$(orderer_ops_port "$k")"; then
			printf '%-12s healthz OK\n' "$(orderer_name "$k")"
		else
			printf '%-12s healthz failing\n' "$(orderer_name "$k")"
			code=1
		fi
	done
	local i
	for i in "${ORGS[@]}"; do
		if healthy "$(peer_ops_port "$i")"; then
			echo "peer$i        healthz OK"
		else
			echo "peer$i        healthz failing"
			code=1
		fi
	done
	return "$code"
}

main() {
	local cmd=${1:-}
	shift || true
	case $cmd in
	up) cmd_up ;;
	deploy) cmd_deploy "$@" ;;
	down) cmd_down ;;
	clean) cmd_clean ;;
	status) cmd_status ;;
	*)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
}

main "$@"; exit  # on one line: bash reads no further, so editing the file while it runs is safe

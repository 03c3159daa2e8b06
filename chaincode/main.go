// Command chaincode serves the SRE-Llama chaincode.
//
// As chaincode-as-a-service (the way the project's Fabric network runs it)
// it listens for the peer when CHAINCODE_SERVER_ADDRESS and CHAINCODE_ID are
// set; CORE_CHAINCODE_ID_NAME is accepted in place of CHAINCODE_ID, as
// contract-api's own server mode reads it. TLS is on when
// CHAINCODE_TLS_CERT_FILE and CHAINCODE_TLS_KEY_FILE are set, with client
// certificates checked against CHAINCODE_TLS_CLIENT_CA_FILE if given.
//
// Without those variables it starts the classic way, connecting to the peer
// that launched it (CORE_PEER_ADDRESS and the rest come from the peer).
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/srellama/srellama/chaincode/contracts"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log, os.Getenv, os.ReadFile); err != nil {
		log.Error("chaincode stopped", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, getenv func(string) string, readFile func(string) ([]byte, error)) error {
	cc, err := contracts.New()
	if err != nil {
		return err
	}
	cfg, err := serverConfig(getenv, readFile)
	if err != nil {
		return err
	}
	if cfg == nil {
		log.Info("starting as a peer-launched chaincode")
		return shim.Start(cc)
	}
	cfg.CC = cc
	log.Info("serving chaincode as a service", "address", cfg.Address, "ccid", cfg.CCID, "tls", !cfg.TLSProps.Disabled)
	return cfg.Start()
}

// serverConfig reads the chaincode-as-a-service settings; nil means the
// variables are absent and the peer launches the chaincode.
func serverConfig(getenv func(string) string, readFile func(string) ([]byte, error)) (*shim.ChaincodeServer, error) {
	address := getenv("CHAINCODE_SERVER_ADDRESS")
	ccid := getenv("CHAINCODE_ID")
	if ccid == "" {
		ccid = getenv("CORE_CHAINCODE_ID_NAME")
	}
	switch {
	case address == "" && ccid == "":
		return nil, nil
	case address == "":
		return nil, errors.New("CHAINCODE_ID is set but CHAINCODE_SERVER_ADDRESS is not: set both to serve as a service")
	case ccid == "":
		return nil, errors.New("CHAINCODE_SERVER_ADDRESS is set but neither CHAINCODE_ID nor CORE_CHAINCODE_ID_NAME is: the peer needs the package ID")
	}
	tls, err := tlsProperties(getenv, readFile)
	if err != nil {
		return nil, err
	}
	return &shim.ChaincodeServer{CCID: ccid, Address: address, TLSProps: tls}, nil
}

func tlsProperties(getenv func(string) string, readFile func(string) ([]byte, error)) (shim.TLSProperties, error) {
	certFile, keyFile := getenv("CHAINCODE_TLS_CERT_FILE"), getenv("CHAINCODE_TLS_KEY_FILE")
	if certFile == "" && keyFile == "" {
		return shim.TLSProperties{Disabled: true}, nil
	}
	if certFile == "" || keyFile == "" {
		return shim.TLSProperties{}, errors.New("TLS needs both CHAINCODE_TLS_CERT_FILE and CHAINCODE_TLS_KEY_FILE")
	}
	props := shim.TLSProperties{}
	var err error
	if props.Cert, err = readFile(certFile); err != nil {
		return shim.TLSProperties{}, fmt.Errorf("reading TLS certificate: %w", err)
	}
	if props.Key, err = readFile(keyFile); err != nil {
		return shim.TLSProperties{}, fmt.Errorf("reading TLS key: %w", err)
	}
	if ca := getenv("CHAINCODE_TLS_CLIENT_CA_FILE"); ca != "" {
		if props.ClientCACerts, err = readFile(ca); err != nil {
			return shim.TLSProperties{}, fmt.Errorf("reading TLS client CA: %w", err)
		}
	}
	return props, nil
}

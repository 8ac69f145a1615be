// Command kvstore-init creates the key-value table Veraison's SQL kvstore
// backend expects (the backend does not create it): one sqlite file per
// argument. It is built beside the services so the harness needs neither
// the sqlite3 CLI nor cgo in the main module.
package main

import (
	"database/sql"
	"fmt"
	"os"

	_ "github.com/mattn/go-sqlite3"
)

// schema is the table services' kvstore/sql.go reads and writes.
const schema = "CREATE TABLE IF NOT EXISTS kvstore (kv_key text NOT NULL, kv_val text NOT NULL)"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kvstore-init FILE.sql...")
		os.Exit(2)
	}
	for _, path := range os.Args[1:] {
		if err := initStore(path); err != nil {
			fmt.Fprintf(os.Stderr, "kvstore-init: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
}

func initStore(path string) error {
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(schema)
	return err
}

// Package services runs the services the suite puts beside peers as
// plain host processes: a swtpm per attesting side (StartSwtpm) and the
// real Veraison services (StartVeraison; github.com/veraison/services
// v0.0.2501, built by containers/veraison) with a generated config, a
// fresh EAR signing key, fresh ports and a fresh state directory per
// start. peers/driver attaches them to a case's network.
//
// It imports no Veraison module: the services' dependency graph (jwx v2,
// ear v1.1.2, go-tpm v0.3.3) stays in their own module.
package services

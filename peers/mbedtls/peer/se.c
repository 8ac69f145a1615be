/*
 * The TPM-held TLS identity key as mbedTLS sees it: a PSA key in a
 * secure element (the dynamic SE driver interface, MBEDTLS_PSA_CRYPTO_SE_C,
 * which patch 0001 enables) whose sign entry point is TPM2_Sign, wrapped
 * in an opaque PK context (mbedtls_pk_setup_opaque). The key is
 * registered, not imported: its private half never leaves the TPM.
 *
 * PSA keeps registered keys in persistent storage (ITS files in the
 * working directory); main.c runs the peer in a private temporary one.
 */
#include <string.h>

#include <psa/crypto.h>
#include <psa/crypto_se_driver.h>

#include "peer.h"

#define SE_LOCATION ((psa_key_location_t) 0x000001)
#define SE_KEY_ID ((psa_key_id_t) 0x3fff0001)

static tpm *se_tpm;

static psa_status_t se_validate_slot(psa_drv_se_context_t *ctx, void *persistent,
                                     const psa_key_attributes_t *attr,
                                     psa_key_creation_method_t method, psa_key_slot_number_t slot)
{
    (void) ctx;
    (void) persistent;
    (void) attr;
    /* The one key in this element is the identity key, registered. */
    return method == PSA_KEY_CREATION_REGISTER && slot == 0 ? PSA_SUCCESS : PSA_ERROR_NOT_SUPPORTED;
}

static psa_status_t se_export_public(psa_drv_se_context_t *ctx, psa_key_slot_number_t slot,
                                     uint8_t *data, size_t size, size_t *len)
{
    (void) ctx;
    if (slot != 0 || se_tpm == NULL) {
        return PSA_ERROR_DOES_NOT_EXIST;
    }
    if (size < 65) {
        return PSA_ERROR_BUFFER_TOO_SMALL;
    }
    memcpy(data, tpm_identity_point(se_tpm), 65);
    *len = 65;
    return PSA_SUCCESS;
}

static psa_status_t se_destroy(psa_drv_se_context_t *ctx, void *persistent,
                               psa_key_slot_number_t slot)
{
    (void) ctx;
    (void) persistent;
    (void) slot;
    return PSA_SUCCESS; /* the TPM object is flushed by tpm_close */
}

static psa_status_t se_sign(psa_drv_se_context_t *ctx, psa_key_slot_number_t slot,
                            psa_algorithm_t alg, const uint8_t *hash, size_t hash_len,
                            uint8_t *sig, size_t sig_size, size_t *sig_len)
{
    (void) ctx;
    if (slot != 0 || se_tpm == NULL) {
        return PSA_ERROR_DOES_NOT_EXIST;
    }
    if (!PSA_ALG_IS_ECDSA(alg) || hash_len != 32) {
        return PSA_ERROR_NOT_SUPPORTED; /* the key signs SHA-256 digests */
    }
    if (sig_size < 64) {
        return PSA_ERROR_BUFFER_TOO_SMALL;
    }
    if (tpm_sign(se_tpm, hash, sig) != 0) {
        return PSA_ERROR_HARDWARE_FAILURE;
    }
    *sig_len = 64;
    return PSA_SUCCESS;
}

static const psa_drv_se_key_management_t se_keys = {
    .MBEDTLS_PRIVATE(p_validate_slot_number) = se_validate_slot,
    .MBEDTLS_PRIVATE(p_destroy) = se_destroy,
    .MBEDTLS_PRIVATE(p_export_public) = se_export_public,
};

static const psa_drv_se_asymmetric_t se_asym = {
    .MBEDTLS_PRIVATE(p_sign) = se_sign,
};

static const psa_drv_se_t se_driver = {
    .MBEDTLS_PRIVATE(hal_version) = PSA_DRV_SE_HAL_VERSION,
    .MBEDTLS_PRIVATE(key_management) = &se_keys,
    .MBEDTLS_PRIVATE(asymmetric) = &se_asym,
};

int se_register(void)
{
    return psa_register_se_driver(SE_LOCATION, &se_driver) == PSA_SUCCESS ? 0 : -1;
}

int se_identity_pk(tpm *t, mbedtls_pk_context *pk)
{
    psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
    psa_status_t st;

    se_tpm = t;
    psa_set_key_id(&attr, mbedtls_svc_key_id_make(0, SE_KEY_ID));
    psa_set_key_lifetime(&attr, PSA_KEY_LIFETIME_FROM_PERSISTENCE_AND_LOCATION(
                             PSA_KEY_PERSISTENCE_DEFAULT, SE_LOCATION));
    psa_set_key_type(&attr, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&attr, 256);
    psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_SIGN_MESSAGE);
    psa_set_key_algorithm(&attr, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
    psa_set_key_slot_number(&attr, 0);
    st = mbedtls_psa_register_se_key(&attr);
    if (st != PSA_SUCCESS) {
        logf_("registering the identity key in the secure element: PSA error %d", (int) st);
        return -1;
    }
    if (mbedtls_pk_setup_opaque(pk, mbedtls_svc_key_id_make(0, SE_KEY_ID)) != 0) {
        logf_("mbedtls_pk_setup_opaque failed");
        return -1;
    }
    return 0;
}

void se_cleanup(void)
{
    psa_destroy_key(mbedtls_svc_key_id_make(0, SE_KEY_ID));
}

-- Protocol modes (docs: README "Use it from your SDK").
--
-- Keys per sign type: public_key_pem is the app's key for its sign_type; other_public_key_pem,
-- when set, its key for the other type (RSA2 and RSA). A call in a type without a key is
-- refused (isv.missing-signature-config).
ALTER TABLE apps ADD COLUMN other_public_key_pem TEXT;
-- AES content encryption: the app's key, base64; NULL when the app has none.
ALTER TABLE apps ADD COLUMN aes_key TEXT;

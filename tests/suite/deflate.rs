//! permessage-deflate (RFC 7692): negotiation tables, the §7.2.3 examples byte for byte, round trips under any
//! parameters, the decompressed-size limit, and robustness against arbitrary input.
#![cfg(feature = "deflate")]

use proptest::prelude::*;
use rfc6455::deflate::{DeflateCodec, DeflateConfig, DeflateError, Negotiated, EXTENSION_NAME};
use rfc6455::handshake::{parse_extensions, Extension};
use rfc6455::Role;

// ---------------------------------------------------------------- helpers

fn extensions(value: &str) -> Vec<Extension> {
    parse_extensions(value).expect("test header parses")
}

fn extension(value: &str) -> Extension {
    let mut all = extensions(value);
    assert_eq!(all.len(), 1, "{value}");
    all.remove(0)
}

#[derive(Debug, Default, Clone, Copy)]
struct Cfg {
    snct: bool,
    cnct: bool,
    smwb: Option<u8>,
    cmwb: Option<u8>,
}

fn config(c: Cfg) -> DeflateConfig {
    let mut config = DeflateConfig::default();
    config.server_no_context_takeover = c.snct;
    config.client_no_context_takeover = c.cnct;
    config.server_max_window_bits = c.smwb;
    config.client_max_window_bits = c.cmwb;
    config
}

fn negotiated(snct: bool, cnct: bool, smwb: u8, cmwb: u8) -> Negotiated {
    let mut n = Negotiated::default();
    n.server_no_context_takeover = snct;
    n.client_no_context_takeover = cnct;
    n.server_max_window_bits = smwb;
    n.client_max_window_bits = cmwb;
    n
}

fn rfc_defaults() -> Negotiated {
    negotiated(false, false, 15, 15)
}

/// A codec with threshold 0 and the given level.
fn codec(n: Negotiated, role: Role, level: u32) -> DeflateCodec {
    let mut config = DeflateConfig::default();
    config.compression_level = level;
    config.threshold = 0;
    DeflateCodec::new(n, role, &config)
}

fn compress(codec: &mut DeflateCodec, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    codec.compress(payload, &mut out);
    out
}

fn decompress(
    codec: &mut DeflateCodec,
    frames: &[&[u8]],
    limit: usize,
) -> Result<Vec<u8>, DeflateError> {
    let mut out = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        codec.decompress(frame, i + 1 == frames.len(), &mut out, limit)?;
    }
    Ok(out)
}

const HELLO_RFC: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

// ---------------------------------------------------------------- client offer

#[test]
fn client_offer_always_has_client_max_window_bits_without_value_by_default() {
    assert_eq!(
        DeflateConfig::default().client_offer().to_string(),
        "permessage-deflate; client_max_window_bits"
    );
}

#[test]
fn client_offer_carries_every_configured_parameter() {
    let cfg = config(Cfg {
        snct: true,
        cnct: true,
        smwb: Some(10),
        cmwb: Some(12),
    });
    assert_eq!(
        cfg.client_offer().to_string(),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=10; client_max_window_bits=12"
    );
}

#[test]
fn client_offer_never_proposes_window_bits_outside_9_to_15() {
    for (configured, sent) in [
        (0, 9),
        (7, 9),
        (8, 9),
        (9, 9),
        (15, 15),
        (16, 15),
        (255, 15),
    ] {
        let cfg = config(Cfg {
            smwb: Some(configured),
            cmwb: Some(configured),
            ..Cfg::default()
        });
        assert_eq!(
            cfg.client_offer().to_string(),
            format!(
                "permessage-deflate; server_max_window_bits={sent}; client_max_window_bits={sent}"
            ),
        );
    }
}

// ---------------------------------------------------------------- client: validating the response

/// Rows of (client config, response, expected): every parameter with and without values.
#[test]
fn client_accepts_valid_responses_per_section_7_1() {
    let plain = Cfg::default();
    let mut rows: Vec<(Cfg, String, Negotiated)> = vec![
        (plain, "permessage-deflate".into(), rfc_defaults()),
        (plain, "PerMessage-Deflate".into(), rfc_defaults()),
        // §7.1.1.1: the server MAY add server_no_context_takeover unasked.
        (plain, "permessage-deflate; server_no_context_takeover".into(), negotiated(true, false, 15, 15)),
        // §7.1.1.2: the server may forbid our context takeover.
        (plain, "permessage-deflate; client_no_context_takeover".into(), negotiated(false, true, 15, 15)),
        // Our own promise holds even if the response does not repeat it.
        (Cfg { cnct: true, ..plain }, "permessage-deflate".into(), negotiated(false, true, 15, 15)),
        (Cfg { snct: true, ..plain }, "permessage-deflate; server_no_context_takeover".into(), negotiated(true, false, 15, 15)),
        (
            plain,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9".into(),
            negotiated(true, true, 10, 9),
        ),
        // Quoted values are unescaped by the header parser (§9.1 of RFC 6455).
        (plain, "permessage-deflate; server_max_window_bits=\"12\"".into(), negotiated(false, false, 12, 15)),
        // A hint in our offer binds us even when the response is silent (§7.1.2.2).
        (Cfg { cmwb: Some(10), ..plain }, "permessage-deflate".into(), negotiated(false, false, 15, 10)),
        (Cfg { cmwb: Some(10), ..plain }, "permessage-deflate; client_max_window_bits=10".into(), negotiated(false, false, 15, 10)),
        (Cfg { cmwb: Some(10), ..plain }, "permessage-deflate; client_max_window_bits=8".into(), negotiated(false, false, 15, 8)),
        (Cfg { smwb: Some(10), ..plain }, "permessage-deflate; server_max_window_bits=10".into(), negotiated(false, false, 10, 15)),
        (Cfg { smwb: Some(10), ..plain }, "permessage-deflate; server_max_window_bits=8".into(), negotiated(false, false, 8, 15)),
    ];
    for bits in 8..=15u8 {
        // §7.1.2.1: the server MAY include server_max_window_bits unasked; §7.1.2.2: we offered
        // client_max_window_bits without a value, so any value may come back.
        rows.push((
            plain,
            format!("permessage-deflate; server_max_window_bits={bits}"),
            negotiated(false, false, bits, 15),
        ));
        rows.push((
            plain,
            format!("permessage-deflate; client_max_window_bits={bits}"),
            negotiated(false, false, 15, bits),
        ));
    }
    for (cfg, response, expected) in rows {
        assert_eq!(
            config(cfg).client_accept_response(&extension(&response)),
            Ok(expected),
            "{response}"
        );
    }
}

#[test]
fn client_fails_on_malformed_or_unsupported_responses_per_section_7() {
    let plain = Cfg::default();
    let invalid = |name: &str, value: Option<&str>| DeflateError::InvalidValue {
        name: name.into(),
        value: value.map(String::from),
    };
    let rows: Vec<(Cfg, &str, DeflateError)> = vec![
        // "an extension parameter not defined for use in a response"
        (
            plain,
            "permessage-deflate; foo",
            DeflateError::UnknownParameter("foo".into()),
        ),
        (
            plain,
            "permessage-deflate; foo=1",
            DeflateError::UnknownParameter("foo".into()),
        ),
        (
            plain,
            "permessage-deflate; Server_No_Context_Takeover",
            DeflateError::UnknownParameter("Server_No_Context_Takeover".into()),
        ),
        // "an extension parameter with an invalid value"
        (
            plain,
            "permessage-deflate; server_no_context_takeover=1",
            invalid("server_no_context_takeover", Some("1")),
        ),
        (
            plain,
            "permessage-deflate; client_no_context_takeover=true",
            invalid("client_no_context_takeover", Some("true")),
        ),
        (
            plain,
            "permessage-deflate; server_max_window_bits",
            invalid("server_max_window_bits", None),
        ),
        (
            plain,
            "permessage-deflate; server_max_window_bits=7",
            invalid("server_max_window_bits", Some("7")),
        ),
        (
            plain,
            "permessage-deflate; server_max_window_bits=16",
            invalid("server_max_window_bits", Some("16")),
        ),
        (
            plain,
            "permessage-deflate; server_max_window_bits=0",
            invalid("server_max_window_bits", Some("0")),
        ),
        (
            plain,
            "permessage-deflate; server_max_window_bits=abc",
            invalid("server_max_window_bits", Some("abc")),
        ),
        (
            plain,
            "permessage-deflate; server_max_window_bits=08",
            invalid("server_max_window_bits", Some("08")),
        ),
        (
            plain,
            "permessage-deflate; server_max_window_bits=+9",
            invalid("server_max_window_bits", Some("+9")),
        ),
        (
            plain,
            "permessage-deflate; server_max_window_bits=015",
            invalid("server_max_window_bits", Some("015")),
        ),
        (
            plain,
            "permessage-deflate; client_max_window_bits",
            invalid("client_max_window_bits", None),
        ),
        (
            plain,
            "permessage-deflate; client_max_window_bits=7",
            invalid("client_max_window_bits", Some("7")),
        ),
        (
            plain,
            "permessage-deflate; client_max_window_bits=16",
            invalid("client_max_window_bits", Some("16")),
        ),
        (
            plain,
            "permessage-deflate; client_max_window_bits=abc",
            invalid("client_max_window_bits", Some("abc")),
        ),
        // "multiple extension parameters with the same name"
        (
            plain,
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            DeflateError::DuplicateParameter("server_no_context_takeover".into()),
        ),
        (
            plain,
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            DeflateError::DuplicateParameter("client_no_context_takeover".into()),
        ),
        (
            plain,
            "permessage-deflate; server_max_window_bits=9; server_max_window_bits=9",
            DeflateError::DuplicateParameter("server_max_window_bits".into()),
        ),
        (
            plain,
            "permessage-deflate; client_max_window_bits=9; client_max_window_bits=10",
            DeflateError::DuplicateParameter("client_max_window_bits".into()),
        ),
        // "the client does not support the configuration that the response represents"
        (
            Cfg {
                snct: true,
                ..plain
            },
            "permessage-deflate",
            DeflateError::Unsupported("server_no_context_takeover was asked for but not accepted"),
        ),
        (
            Cfg {
                smwb: Some(10),
                ..plain
            },
            "permessage-deflate",
            DeflateError::Unsupported("server_max_window_bits was asked for but not accepted"),
        ),
        (
            Cfg {
                smwb: Some(10),
                ..plain
            },
            "permessage-deflate; server_max_window_bits=11",
            DeflateError::Unsupported("server_max_window_bits is larger than asked for"),
        ),
        (
            Cfg {
                cmwb: Some(10),
                ..plain
            },
            "permessage-deflate; client_max_window_bits=11",
            DeflateError::Unsupported("client_max_window_bits is larger than offered"),
        ),
        // Not our extension at all.
        (
            plain,
            "x-webkit-deflate-frame",
            DeflateError::NotPermessageDeflate("x-webkit-deflate-frame".into()),
        ),
    ];
    for (cfg, response, expected) in rows {
        let result = config(cfg).client_accept_response(&extension(response));
        assert_eq!(result, Err(expected.clone()), "{response}");
        assert_eq!(expected.close_code(), None);
    }
}

#[test]
fn client_accept_extensions_finds_permessage_deflate_once() {
    let cfg = DeflateConfig::default();
    assert_eq!(cfg.client_accept_extensions(&[]), Ok(None));
    assert_eq!(
        cfg.client_accept_extensions(&extensions("x-foo; a=1")),
        Ok(None)
    );
    assert_eq!(
        cfg.client_accept_extensions(&extensions(
            "x-foo, permessage-deflate; server_max_window_bits=12"
        )),
        Ok(Some(negotiated(false, false, 12, 15)))
    );
    assert_eq!(
        cfg.client_accept_extensions(&extensions("permessage-deflate, permessage-deflate")),
        Err(DeflateError::DuplicateExtension)
    );
    assert_eq!(
        cfg.client_accept_extensions(&extensions("permessage-deflate; bogus")),
        Err(DeflateError::UnknownParameter("bogus".into()))
    );
}

// ---------------------------------------------------------------- server: choosing an offer

fn server(cfg: Cfg, offers: &str) -> Option<(String, Negotiated)> {
    config(cfg)
        .server_accept_offers(&extensions(offers))
        .map(|(response, n)| (response.to_string(), n))
}

#[test]
fn server_accepts_every_well_formed_offer_per_section_7_1() {
    let plain = Cfg::default();
    let mut rows: Vec<(Cfg, String, &str, Negotiated)> = vec![
        (plain, "permessage-deflate".into(), "permessage-deflate", rfc_defaults()),
        (plain, "permessage-deflate; client_max_window_bits".into(), "permessage-deflate", rfc_defaults()),
        (plain, "permessage-deflate; server_no_context_takeover".into(), "permessage-deflate; server_no_context_takeover", negotiated(true, false, 15, 15)),
        (plain, "permessage-deflate; client_no_context_takeover".into(), "permessage-deflate; client_no_context_takeover", negotiated(false, true, 15, 15)),
        // Imposed by our configuration (§7.1.1.1, §7.1.1.2: the server MAY include both unasked).
        (Cfg { snct: true, cnct: true, ..plain }, "permessage-deflate".into(), "permessage-deflate; server_no_context_takeover; client_no_context_takeover", negotiated(true, true, 15, 15)),
        // §7.1.2.1: ours unasked, or the smaller of ours and the offer's.
        (Cfg { smwb: Some(10), ..plain }, "permessage-deflate".into(), "permessage-deflate; server_max_window_bits=10", negotiated(false, false, 10, 15)),
        (Cfg { smwb: Some(10), ..plain }, "permessage-deflate; server_max_window_bits=12".into(), "permessage-deflate; server_max_window_bits=10", negotiated(false, false, 10, 15)),
        (Cfg { smwb: Some(10), ..plain }, "permessage-deflate; server_max_window_bits=9".into(), "permessage-deflate; server_max_window_bits=9", negotiated(false, false, 9, 15)),
        (Cfg { smwb: Some(8), ..plain }, "permessage-deflate".into(), "permessage-deflate; server_max_window_bits=9", negotiated(false, false, 9, 15)),
        (Cfg { smwb: Some(15), ..plain }, "permessage-deflate".into(), "permessage-deflate", rfc_defaults()),
        // §7.1.2.2: limit the client only if it supports the parameter.
        (Cfg { cmwb: Some(10), ..plain }, "permessage-deflate".into(), "permessage-deflate", rfc_defaults()),
        (Cfg { cmwb: Some(10), ..plain }, "permessage-deflate; client_max_window_bits".into(), "permessage-deflate; client_max_window_bits=10", negotiated(false, false, 15, 10)),
        (Cfg { cmwb: Some(10), ..plain }, "permessage-deflate; client_max_window_bits=12".into(), "permessage-deflate; client_max_window_bits=10", negotiated(false, false, 15, 10)),
        (Cfg { cmwb: Some(10), ..plain }, "permessage-deflate; client_max_window_bits=9".into(), "permessage-deflate; client_max_window_bits=9", negotiated(false, false, 15, 9)),
        (Cfg { cmwb: Some(8), ..plain }, "permessage-deflate; client_max_window_bits".into(), "permessage-deflate; client_max_window_bits=9", negotiated(false, false, 15, 9)),
        // Other extensions are ignored; the name is case-insensitive as in the handshake.
        (plain, "x-foo; bar, permessage-deflate".into(), "permessage-deflate", rfc_defaults()),
        (plain, "Permessage-Deflate".into(), "permessage-deflate", rfc_defaults()),
        // §5: the first acceptable offer wins; malformed ones before it are declined.
        (plain, "permessage-deflate; foo, permessage-deflate; server_max_window_bits=10".into(), "permessage-deflate; server_max_window_bits=10", negotiated(false, false, 10, 15)),
        (plain, "permessage-deflate; server_max_window_bits=11, permessage-deflate".into(), "permessage-deflate; server_max_window_bits=11", negotiated(false, false, 11, 15)),
        (
            plain,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=11".into(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=11",
            negotiated(true, true, 12, 11),
        ),
    ];
    for bits in 8..=15u8 {
        // Accepted as offered, 8 included (we then send uncompressed: see should_compress).
        let offer = format!("permessage-deflate; server_max_window_bits={bits}");
        rows.push((plain, offer.clone(), "", negotiated(false, false, bits, 15)));
        let offer = format!("permessage-deflate; client_max_window_bits={bits}");
        rows.push((plain, offer, "", negotiated(false, false, 15, bits)));
    }
    for (cfg, offer, response, expected) in rows {
        let (got_response, got) = server(cfg, &offer).unwrap_or_else(|| panic!("declined {offer}"));
        // An empty expected response means: the offer echoed.
        let response = if response.is_empty() {
            offer.as_str()
        } else {
            response
        };
        assert_eq!(
            (got_response.as_str(), got),
            (response, expected),
            "{offer}"
        );
    }
}

#[test]
fn server_declines_malformed_offers_per_section_7() {
    let mut offers: Vec<String> = [
        "permessage-deflate; foo",
        "permessage-deflate; foo=bar",
        "permessage-deflate; SERVER_MAX_WINDOW_BITS=10",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=0",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; server_max_window_bits=+8",
        "permessage-deflate; server_max_window_bits=\"1a\"",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; client_max_window_bits; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=10; client_max_window_bits",
        "x-webkit-deflate-frame",
        "deflate-frame; server_max_window_bits=10",
    ]
    .map(String::from)
    .to_vec();
    for name in ["server_max_window_bits", "client_max_window_bits"] {
        for value in ["7", "16", "0", "99", "abc", "-9", "9.0", "1e1"] {
            offers.push(format!("permessage-deflate; {name}={value}"));
        }
    }
    for offer in &offers {
        assert_eq!(server(Cfg::default(), offer), None, "{offer}");
    }
    // All of them together: still nothing to accept, and no panic.
    assert_eq!(server(Cfg::default(), &offers.join(", ")), None);
}

// ---------------------------------------------------------------- negotiation end to end

fn any_cfg() -> impl Strategy<Value = Cfg> {
    (
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(0u8..20),
        proptest::option::of(0u8..20),
    )
        .prop_map(|(snct, cnct, smwb, cmwb)| Cfg {
            snct,
            cnct,
            smwb,
            cmwb,
        })
}

proptest! {
    /// Whatever both ends are configured with, the server accepts our offer and both ends agree on the result.
    #[test]
    fn client_and_server_agree_on_the_negotiated_parameters(client in any_cfg(), srv in any_cfg()) {
        let client = config(client);
        let (response, on_server) = config(srv)
            .server_accept_offers(&[client.client_offer()])
            .expect("our own offer is acceptable");
        // Through the header text, as on the wire.
        let response = extension(&response.to_string());
        let on_client = client.client_accept_response(&response).expect("our own response is acceptable");
        prop_assert_eq!(on_client, on_server);
        prop_assert!((8..=15).contains(&on_client.server_max_window_bits));
        prop_assert!((8..=15).contains(&on_client.client_max_window_bits));
    }

    /// Arbitrary parameters never panic: each offer is accepted or declined, each response accepted or refused.
    #[test]
    fn negotiation_never_panics_on_arbitrary_parameters(
        params in proptest::collection::vec(
            (
                prop_oneof![
                    Just("server_no_context_takeover".to_string()),
                    Just("client_no_context_takeover".to_string()),
                    Just("server_max_window_bits".to_string()),
                    Just("client_max_window_bits".to_string()),
                    "[a-z_]{1,12}",
                ],
                proptest::option::of(prop_oneof!["[0-9]{1,3}", "[ -~]{0,6}"]),
            ),
            0..6,
        ),
        cfg in any_cfg(),
    ) {
        let mut element = Extension::new(EXTENSION_NAME);
        for (name, value) in &params {
            element = element.param(name, value.as_deref());
        }
        let cfg = config(cfg);
        if let Some((response, n)) = cfg.server_accept_offers(core::slice::from_ref(&element)) {
            prop_assert_eq!(response.name.as_str(), EXTENSION_NAME);
            prop_assert!((8..=15).contains(&n.server_max_window_bits));
        }
        if let Ok(n) = cfg.client_accept_response(&element) {
            prop_assert!((8..=15).contains(&n.client_max_window_bits));
        }
    }
}

// ---------------------------------------------------------------- RFC 7692 §7.2.3 examples

/// §7.2.3.1: "Hello" compresses to 0xf2 0x48 0xcd 0xc9 0xc9 0x07 0x00.
#[test]
fn hello_compresses_to_the_section_7_2_3_1_bytes() {
    for role in [Role::Client, Role::Server] {
        let mut c = codec(rfc_defaults(), role, 6);
        assert_eq!(compress(&mut c, b"Hello"), HELLO_RFC);
    }
}

/// §7.2.3.1: the same payload split over two frames, 0xf2 0x48 0xcd then 0xc9 0xc9 0x07 0x00.
#[test]
fn hello_decompresses_whole_and_fragmented_per_section_7_2_3_1() {
    let mut d = codec(rfc_defaults(), Role::Client, 6);
    assert_eq!(
        decompress(&mut d, &[&HELLO_RFC], 1 << 20).unwrap(),
        b"Hello"
    );
    assert_eq!(
        decompress(
            &mut d,
            &[&[0xf2, 0x48, 0xcd], &[0xc9, 0xc9, 0x07, 0x00]],
            1 << 20
        )
        .unwrap(),
        b"Hello"
    );
}

/// §7.2.3.2: with context takeover the second "Hello" is 0xf2 0x00 0x11 0x00 0x00; without it, the same 7 bytes.
#[test]
fn second_hello_uses_the_shared_window_only_with_context_takeover_per_section_7_2_3_2() {
    let second_with_takeover = [0xf2, 0x00, 0x11, 0x00, 0x00];
    for role in [Role::Client, Role::Server] {
        let mut c = codec(rfc_defaults(), role, 6);
        assert_eq!(compress(&mut c, b"Hello"), HELLO_RFC);
        assert_eq!(compress(&mut c, b"Hello"), second_with_takeover);

        let ours_reset = match role {
            Role::Server => negotiated(true, false, 15, 15),
            Role::Client => negotiated(false, true, 15, 15),
        };
        let mut c = codec(ours_reset, role, 6);
        assert_eq!(compress(&mut c, b"Hello"), HELLO_RFC);
        assert_eq!(compress(&mut c, b"Hello"), HELLO_RFC);
    }
    let mut d = codec(rfc_defaults(), Role::Server, 6);
    assert_eq!(decompress(&mut d, &[&HELLO_RFC], 100).unwrap(), b"Hello");
    assert_eq!(
        decompress(&mut d, &[&second_with_takeover], 100).unwrap(),
        b"Hello"
    );
    // Without the first message's window, the second cannot be decoded.
    let mut fresh = codec(rfc_defaults(), Role::Server, 6);
    assert_eq!(
        decompress(&mut fresh, &[&second_with_takeover], 100),
        Err(DeflateError::Corrupt)
    );
}

/// §7.1.1.2: a peer that agreed to no context takeover starts each message afresh, so a reference into the
/// previous message (valid with takeover, above) is corrupt data.
#[test]
fn a_peer_without_context_takeover_cannot_refer_to_the_previous_message() {
    let second_with_takeover = [0xf2, 0x00, 0x11, 0x00, 0x00];
    let mut d = codec(negotiated(false, true, 15, 15), Role::Server, 6);
    assert_eq!(decompress(&mut d, &[&HELLO_RFC], 100).unwrap(), b"Hello");
    assert_eq!(
        decompress(&mut d, &[&second_with_takeover], 100),
        Err(DeflateError::Corrupt)
    );
}

/// §7.2.3.3 (a stored block), §7.2.3.4 (BFINAL set), §7.2.3.5 (two blocks): all "Hello".
#[test]
fn other_section_7_2_3_encodings_of_hello_decompress() {
    let stored = [
        0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    let two_blocks = [
        0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
    ];
    for payload in [&stored[..], &bfinal, &two_blocks] {
        let mut d = codec(rfc_defaults(), Role::Client, 6);
        assert_eq!(
            decompress(&mut d, &[payload], 5).unwrap(),
            b"Hello",
            "{payload:02x?}"
        );
        // The state stays usable for the next message, with context takeover.
        assert_eq!(
            decompress(&mut d, &[&HELLO_RFC], 5).unwrap(),
            b"Hello",
            "after {payload:02x?}"
        );
    }
}

/// A BFINAL block that ends exactly at the end of the message takes no tail; the next message decodes.
#[test]
fn final_block_at_the_very_end_of_a_message_is_accepted() {
    let mut d = codec(rfc_defaults(), Role::Client, 6);
    assert_eq!(
        decompress(&mut d, &[&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]], 5).unwrap(),
        b"Hello"
    );
    assert_eq!(decompress(&mut d, &[&HELLO_RFC], 5).unwrap(), b"Hello");
}

/// §7.2.3.6: an empty message is the single octet 0x00.
#[test]
fn empty_message_is_a_single_zero_octet_per_section_7_2_3_6() {
    for bits in [8, 9, 15] {
        for level in [0, 1, 6, 9] {
            let mut c = codec(negotiated(false, false, bits, bits), Role::Server, level);
            assert_eq!(
                compress(&mut c, b""),
                [0x00],
                "window bits {bits}, level {level}"
            );
            compress(&mut c, b"Hello");
            assert_eq!(
                compress(&mut c, b""),
                [0x00],
                "window bits {bits}, level {level}, after a message"
            );
        }
    }
    let mut d = codec(rfc_defaults(), Role::Client, 6);
    assert_eq!(decompress(&mut d, &[&[0x00]], 0).unwrap(), b"");
    // An empty final frame after data frames adds nothing.
    assert_eq!(decompress(&mut d, &[&HELLO_RFC, &[]], 5).unwrap(), b"Hello");
}

// ---------------------------------------------------------------- window bits 8, threshold

#[test]
fn a_window_limited_to_8_bits_is_sent_uncompressed() {
    for role in [Role::Client, Role::Server] {
        let ours_8 = match role {
            Role::Server => negotiated(false, false, 8, 15),
            Role::Client => negotiated(false, false, 15, 8),
        };
        let c = codec(ours_8, role, 6);
        assert!(!c.should_compress(1 << 20));
        // The peer's 8 does not stop us.
        let theirs_8 = match role {
            Role::Server => negotiated(false, false, 15, 8),
            Role::Client => negotiated(false, false, 8, 15),
        };
        assert!(codec(theirs_8, role, 6).should_compress(1 << 20));
    }
}

/// §7.1.2.1: the server compresses with an LZ77 sliding window of at most the agreed size. Random data repeated
/// at a distance of 4 KiB only shrinks if the compressor may look 4 KiB back, which zlib does from 13 bits on (it
/// keeps 262 bytes of lookahead out of the window). (zlib-rs inflates with a 32 KiB window whatever it is told,
/// so a too-far reference would not be caught by inflating; the size shows it.)
#[test]
fn compressor_keeps_to_the_negotiated_window() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let block: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[4]
        })
        .collect();
    let message = block.repeat(3);
    for bits in 9..=15u8 {
        let mut c = codec(negotiated(false, false, bits, 15), Role::Server, 9);
        let wire = compress(&mut c, &message);
        if bits <= 12 {
            assert!(
                wire.len() > message.len(),
                "window bits {bits}: {} bytes",
                wire.len()
            );
        } else {
            assert!(
                wire.len() < 2 * block.len(),
                "window bits {bits}: {} bytes",
                wire.len()
            );
        }
        let mut d = codec(negotiated(false, false, bits, 15), Role::Client, 9);
        assert_eq!(
            decompress(&mut d, &[&wire], message.len()).unwrap(),
            message
        );
    }
}

/// Stored blocks only (BTYPE 00): no back-reference, so valid for any window, 256 bytes included.
fn assert_stored_only(payload: &[u8]) {
    let mut data = payload.to_vec();
    data.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    let mut rest = &data[..];
    while !rest.is_empty() {
        assert_eq!(rest[0] & 0b110, 0, "BTYPE 00 expected: {rest:02x?}");
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]]));
        assert_eq!(u16::from_le_bytes([rest[3], rest[4]]), !(len as u16));
        rest = &rest[5 + len..];
    }
}

#[test]
fn compress_under_an_8_bit_window_writes_stored_blocks_that_inflate() {
    let message: Vec<u8> = b"abcabcabc".iter().copied().cycle().take(200_000).collect();
    let n = negotiated(false, false, 8, 8);
    let mut server = codec(n, Role::Server, 9);
    let mut client = codec(n, Role::Client, 9);
    for _ in 0..2 {
        let wire = compress(&mut server, &message);
        assert_stored_only(&wire);
        assert_eq!(
            decompress(&mut client, &[&wire], message.len()).unwrap(),
            message
        );
    }
}

#[test]
fn threshold_keeps_small_messages_uncompressed() {
    let mut cfg = DeflateConfig::default();
    assert_eq!(cfg.threshold, 64);
    let c = DeflateCodec::new(rfc_defaults(), Role::Server, &cfg);
    assert!(!c.should_compress(63));
    assert!(c.should_compress(64));
    cfg.threshold = 0;
    assert!(DeflateCodec::new(rfc_defaults(), Role::Server, &cfg).should_compress(0));
}

// ---------------------------------------------------------------- limits and corrupt input

/// Deflated zeros: about 1 KiB of compressed data per MiB of output.
fn zero_bomb(mib: usize) -> Vec<u8> {
    let mut c = codec(rfc_defaults(), Role::Server, 9);
    compress(&mut c, &vec![0; mib << 20])
}

#[test]
fn a_small_frame_inflating_past_the_limit_fails_with_too_big_after_bounded_output() {
    let bomb = zero_bomb(8);
    assert!(bomb.len() < 16 << 10, "{} bytes", bomb.len());
    // The first KiB alone would inflate to about a MiB.
    let frame = &bomb[..1024];
    for limit in [0, 1, 1000, 100 << 10] {
        let mut d = codec(rfc_defaults(), Role::Client, 6);
        let mut out = Vec::new();
        assert_eq!(
            d.decompress(frame, false, &mut out, limit),
            Err(DeflateError::TooBig { limit })
        );
        assert!(
            out.len() <= limit + 1,
            "limit {limit}: {} bytes out",
            out.len()
        );
        assert!(
            out.capacity() <= limit + 1,
            "limit {limit}: capacity {}",
            out.capacity()
        );
        assert_eq!(DeflateError::TooBig { limit }.close_code(), Some(1009));
    }
}

#[test]
fn the_limit_counts_the_whole_message_across_frames_and_restarts_per_message() {
    let bomb = zero_bomb(8);
    let limit = 3 << 20;
    let mut d = codec(rfc_defaults(), Role::Client, 6);
    let mut out = Vec::new();
    let mut fed = 0;
    let result = bomb.chunks(1024).try_for_each(|frame| {
        fed += 1;
        out.clear(); // consumed frame by frame: the limit is still per message
        d.decompress(frame, false, &mut out, limit)
    });
    assert_eq!(result, Err(DeflateError::TooBig { limit }));
    assert!(fed < bomb.len() / 1024, "stopped after {fed} frames");

    // Exactly at the limit is fine, once per message.
    let message = vec![7u8; 5000];
    let mut c = codec(rfc_defaults(), Role::Server, 6);
    let mut d = codec(rfc_defaults(), Role::Client, 6);
    for _ in 0..3 {
        let wire = compress(&mut c, &message);
        let (a, b) = wire.split_at(wire.len() / 2);
        assert_eq!(decompress(&mut d, &[a, b], message.len()).unwrap(), message);
    }
    let wire = compress(&mut c, &message);
    assert_eq!(
        decompress(&mut d, &[&wire], message.len() - 1),
        Err(DeflateError::TooBig { limit: 4999 })
    );
}

#[test]
fn corrupt_input_is_reported_as_corrupt() {
    let rows: [&[u8]; 4] = [
        &[0xff, 0xff, 0xff],             // BTYPE 11 is reserved
        &[0x00, 0x05, 0x00, 0x00, 0x00], // stored block whose NLEN is not the complement of LEN
        &[0x07],                         // BFINAL 1, BTYPE 11
        &[
            0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xff, 0xff, 0xff, 0xff,
        ],
    ];
    for payload in rows {
        let mut d = codec(rfc_defaults(), Role::Server, 6);
        assert_eq!(
            decompress(&mut d, &[payload], 1 << 20),
            Err(DeflateError::Corrupt),
            "{payload:02x?}"
        );
    }
    assert_eq!(DeflateError::Corrupt.close_code(), Some(1007));
}

// ---------------------------------------------------------------- properties

/// Messages that compress (repeated phrases) or not (random bytes).
fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        (
            proptest::collection::vec(proptest::sample::select(b"abc {}:,\"xyz".to_vec()), 1..40),
            0usize..30_000
        )
            .prop_map(|(phrase, len)| phrase.iter().copied().cycle().take(len).collect()),
    ]
}

/// Split `data` at the given fractions (per mille), giving at least one frame.
fn frames(data: &[u8], cuts: &[u16]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|&c| data.len() * usize::from(c) / 1000)
        .collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for p in points {
        out.push(data[start..p].to_vec());
        start = p;
    }
    out.push(data[start..].to_vec());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any message survives compress + decompress under any window bits (8 as handled), takeover setting, level,
    /// direction and fragmentation, across several messages; with no context takeover each message also
    /// inflates alone.
    #[test]
    fn any_message_survives_compress_and_decompress(
        messages in proptest::collection::vec(message(), 1..5),
        server_bits in 8u8..=15,
        client_bits in 8u8..=15,
        snct in any::<bool>(),
        cnct in any::<bool>(),
        level in 0u32..=9,
        sender_is_server in any::<bool>(),
        cuts in proptest::collection::vec(0u16..=1000, 0..4),
    ) {
        let n = negotiated(snct, cnct, server_bits, client_bits);
        let (sender, receiver) = if sender_is_server { (Role::Server, Role::Client) } else { (Role::Client, Role::Server) };
        let mut tx = codec(n, sender, level);
        let mut rx = codec(n, receiver, level);
        let own_bits = n.max_window_bits(sender);
        let reset = n.no_context_takeover(sender);
        for message in &messages {
            let wire = compress(&mut tx, message);
            if own_bits == 8 {
                prop_assert!(!tx.should_compress(message.len()));
                assert_stored_only(&wire);
            }
            let parts = frames(&wire, &cuts);
            let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(&decompress(&mut rx, &parts, message.len()).unwrap(), message);
            if reset {
                let mut alone = codec(n, receiver, level);
                prop_assert_eq!(&decompress(&mut alone, &[&wire], message.len()).unwrap(), message);
            }
        }
    }

    /// Arbitrary bytes never panic: each frame inflates within the limit or fails, and the codec can be used
    /// again afterwards.
    #[test]
    fn decompress_never_panics_on_arbitrary_bytes(
        chunks in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..600), any::<bool>()), 1..8),
        bits in 0u8..=20,
        snct in any::<bool>(),
        limit in 0usize..200_000,
    ) {
        let mut d = codec(negotiated(snct, snct, bits, bits), Role::Client, 6);
        let mut message = 0usize;
        for (chunk, fin) in &chunks {
            let mut out = Vec::new();
            match d.decompress(chunk, *fin, &mut out, limit) {
                Ok(()) => {
                    message += out.len();
                    prop_assert!(message <= limit);
                }
                Err(DeflateError::TooBig { .. } | DeflateError::Corrupt) => message = 0,
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
            if *fin {
                message = 0;
            }
        }
    }
}

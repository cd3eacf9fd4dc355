//! SNMPv3 processing (RFC 3412/3414): checking an incoming message's USM security in RFC order
//! (engine, user, level, digest, time window, decryption), Reports, and the response message.

use super::ber::{self, tag, DecodeError, VarValue};
use super::message::{self, flags, MsgData, Pdu, ScopedPdu, V3Message};
use super::stats::{UsmCounters, UsmStat};
use super::usm::{self, LocalKeys, PrivParams, UserTable, SALT_LEN};
use super::{UsmAuth, UsmPriv};
use crate::simulator::mib::SimValue;

/// RFC 3414 3.2 step 7: a message more than 150 s off the engine's clock is refused.
const TIME_WINDOW_SECONDS: u32 = 150;

/// This engine, as an incoming message is checked against it.
pub struct Engine<'a> {
    pub engine_id: &'a [u8],
    pub boots: u32,
    pub time: u32,
    pub users: &'a UserTable,
    /// The users' keys localised to this engine (computed on first use by the caller).
    pub keys: &'a dyn Fn() -> &'a [LocalKeys],
    pub counters: &'a UsmCounters,
}

/// An authenticated (or deliberately unauthenticated) request, ready to answer.
pub struct Accepted<'a> {
    pub user: Option<usize>,
    pub scoped: ScopedPdu<'a>,
}

/// A Report to send instead of a response (RFC 3412 7.1 3b).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub stat: UsmStat,
    pub value: u32,
    /// notInTimeWindow reports are authenticated with the user's key, so the manager can
    /// trust the engine time they carry.
    pub signed_for: Option<usize>,
    pub request_id: i32,
}

/// What the security checks decided.
pub enum Verdict<'a> {
    Accept(Accepted<'a>),
    Report(Report),
    /// A security failure the manager did not ask to hear about (no reportable flag).
    Silent,
    /// Not answerable (malformed): dropped and counted by the caller.
    Discard(DecodeError),
}

/// Counts the failure and builds the Report for it, if the manager asked for reports.
fn report(
    engine: &Engine<'_>,
    message: &V3Message<'_>,
    stat: UsmStat,
    signed_for: Option<usize>,
) -> Verdict<'static> {
    let value = engine.counters.increment(stat);
    if message.flags & flags::REPORTABLE == 0 {
        return Verdict::Silent;
    }
    Verdict::Report(Report {
        stat,
        value,
        signed_for,
        request_id: plain_request_id(message).unwrap_or(0),
    })
}

/// The request-id of a plaintext message, so the Report can echo it.
fn plain_request_id(message: &V3Message<'_>) -> Option<i32> {
    let MsgData::Plain(content) = message.data else {
        return None;
    };
    let scoped = message::decode_scoped_pdu(content).ok()?;
    ber::Reader::new(scoped.pdu).read_i32().ok()
}

/// Runs RFC 3414 3.2 on a message. `plain` receives decrypted data.
pub fn check<'a>(
    engine: &Engine<'_>,
    datagram: &[u8],
    message: &V3Message<'a>,
    plain: &'a mut Vec<u8>,
) -> Verdict<'a> {
    let wants_auth = message.flags & flags::AUTH != 0;
    let wants_priv = message.flags & flags::PRIV != 0;
    if wants_priv && !wants_auth {
        return Verdict::Discard(DecodeError::Malformed);
    }
    let usm = &message.usm;
    if usm.engine_id != engine.engine_id {
        return report(engine, message, UsmStat::UnknownEngineIds, None);
    }
    let Some(user) = engine.users.find(usm.user_name) else {
        return report(engine, message, UsmStat::UnknownUserNames, None);
    };
    if !wants_auth {
        // noAuthNoPriv is accepted for every known user (no VACM: the view is read-only).
        return accept_plain(message, None);
    }
    let keys = &(engine.keys)()[user];
    if wants_priv && keys.privacy.is_none() {
        return report(engine, message, UsmStat::UnsupportedSecLevels, None);
    }
    if !digest_matches(keys, datagram, message) {
        return report(engine, message, UsmStat::WrongDigests, None);
    }
    let in_window = usm.engine_boots == engine.boots
        && usm.engine_time.abs_diff(engine.time) <= TIME_WINDOW_SECONDS;
    if !in_window {
        return report(engine, message, UsmStat::NotInTimeWindows, Some(user));
    }
    match (&keys.privacy, message.data) {
        (Some((protocol, key)), MsgData::Encrypted(cipher)) if wants_priv => {
            decrypt(message, (*protocol, key), cipher, plain).map_or_else(
                |stat| report(engine, message, stat, None),
                |scoped| {
                    Verdict::Accept(Accepted {
                        user: Some(user),
                        scoped,
                    })
                },
            )
        }
        _ if wants_priv => Verdict::Discard(DecodeError::Malformed),
        _ => accept_plain(message, Some(user)),
    }
}

fn accept_plain<'a>(message: &V3Message<'a>, user: Option<usize>) -> Verdict<'a> {
    let MsgData::Plain(content) = message.data else {
        return Verdict::Discard(DecodeError::Malformed);
    };
    match message::decode_scoped_pdu(content) {
        Ok(scoped) => Verdict::Accept(Accepted { user, scoped }),
        Err(error) => Verdict::Discard(error),
    }
}

/// HMAC over the whole datagram with the digest field zeroed (RFC 3414 6.3.2).
fn digest_matches(keys: &LocalKeys, datagram: &[u8], message: &V3Message<'_>) -> bool {
    let received = message.usm.auth_params;
    if received.len() != keys.auth.mac_len() {
        return false;
    }
    let range = message.usm.auth_params_at.clone();
    let zeros = [0u8; 64];
    let parts = [
        &datagram[..range.start],
        &zeros[..received.len()],
        &datagram[range.end..],
    ];
    let (computed, len) = keys.auth.mac(&keys.auth_key, &parts);
    usm::digests_equal(&computed[..len], received)
}

fn decrypt<'a>(
    message: &V3Message<'_>,
    (protocol, key): (UsmPriv, &[u8]),
    cipher: &[u8],
    plain: &'a mut Vec<u8>,
) -> Result<ScopedPdu<'a>, UsmStat> {
    plain.clear();
    plain.extend_from_slice(cipher);
    let params = PrivParams {
        boots: message.usm.engine_boots,
        time: message.usm.engine_time,
        salt: message.usm.priv_params,
    };
    protocol
        .decrypt(key, params, plain)
        .map_err(|_| UsmStat::DecryptionErrors)?;
    message::decode_decrypted_scoped_pdu(plain).map_err(|_| UsmStat::DecryptionErrors)
}

/// The security of a response message.
#[derive(Clone, Copy)]
pub struct ResponseSecurity<'a> {
    pub auth: Option<(UsmAuth, &'a [u8])>,
    pub privacy: Option<(UsmPriv, &'a [u8], [u8; SALT_LEN])>,
}

/// A v3 response (or Report) message around a PDU.
#[derive(Clone, Copy)]
pub struct V3Envelope<'a> {
    pub msg_id: u32,
    pub max_size: u32,
    pub engine_id: &'a [u8],
    pub boots: u32,
    pub time: u32,
    pub user_name: &'a [u8],
    pub security: ResponseSecurity<'a>,
    pub context_engine_id: &'a [u8],
    pub context_name: &'a [u8],
    /// Set only on requests (the load generator and tests write requests with this too);
    /// responses and Reports are never reportable (RFC 3412 6.4).
    pub reportable: bool,
}

/// Sizes of the nested parts of a v3 message, computed once.
struct Layout {
    scoped_content: usize,
    scoped: usize,
    data: usize,
    usm_content: usize,
    header_content: usize,
    message_content: usize,
}

fn int_tlv(value: u32) -> usize {
    ber::tlv_len(ber::integer_len(i64::from(value)))
}

impl V3Envelope<'_> {
    fn flags(&self) -> u8 {
        let security = match (self.security.auth, self.security.privacy) {
            (None, _) => 0,
            (Some(_), None) => flags::AUTH,
            (Some(_), Some(_)) => flags::AUTH | flags::PRIV,
        };
        if self.reportable {
            security | flags::REPORTABLE
        } else {
            security
        }
    }

    fn mac_len(&self) -> usize {
        self.security.auth.map_or(0, |(auth, _)| auth.mac_len())
    }

    fn layout(&self, pdu_len: usize) -> Layout {
        let scoped_content = ber::tlv_len(self.context_engine_id.len())
            + ber::tlv_len(self.context_name.len())
            + pdu_len;
        let scoped = ber::tlv_len(scoped_content);
        let data = match self.security.privacy {
            Some((protocol, _, _)) => ber::tlv_len(protocol.encrypted_len(scoped)),
            None => scoped,
        };
        let salt_len = if self.security.privacy.is_some() {
            SALT_LEN
        } else {
            0
        };
        let usm_content = ber::tlv_len(self.engine_id.len())
            + int_tlv(self.boots)
            + int_tlv(self.time)
            + ber::tlv_len(self.user_name.len())
            + ber::tlv_len(self.mac_len())
            + ber::tlv_len(salt_len);
        let header_content =
            int_tlv(self.msg_id) + int_tlv(self.max_size) + ber::tlv_len(1) + int_tlv(3);
        let message_content = int_tlv(3)
            + ber::tlv_len(header_content)
            + ber::tlv_len(ber::tlv_len(usm_content))
            + data;
        Layout {
            scoped_content,
            scoped,
            data,
            usm_content,
            header_content,
            message_content,
        }
    }

    /// The message's exact size around a PDU of `pdu_len` bytes.
    pub fn message_len(&self, pdu_len: usize) -> usize {
        ber::tlv_len(self.layout(pdu_len).message_content)
    }

    /// Writes the message into `out`; `scratch` holds the scopedPDU while it is encrypted.
    pub fn write(
        &self,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
        pdu: Pdu<'_>,
    ) -> Result<(), usm::DecryptionError> {
        let layout = self.layout(pdu.header.pdu_len(pdu.varbinds.len()));
        out.clear();
        ber::write_header(out, tag::SEQUENCE, layout.message_content);
        ber::write_integer(out, tag::INTEGER, 3);
        ber::write_header(out, tag::SEQUENCE, layout.header_content);
        ber::write_integer(out, tag::INTEGER, i64::from(self.msg_id));
        ber::write_integer(out, tag::INTEGER, i64::from(self.max_size));
        ber::write_octets(out, tag::OCTET_STRING, &[self.flags()]);
        ber::write_integer(out, tag::INTEGER, i64::from(message::USM_SECURITY_MODEL));
        ber::write_header(out, tag::OCTET_STRING, ber::tlv_len(layout.usm_content));
        ber::write_header(out, tag::SEQUENCE, layout.usm_content);
        ber::write_octets(out, tag::OCTET_STRING, self.engine_id);
        ber::write_integer(out, tag::INTEGER, i64::from(self.boots));
        ber::write_integer(out, tag::INTEGER, i64::from(self.time));
        ber::write_octets(out, tag::OCTET_STRING, self.user_name);
        ber::write_header(out, tag::OCTET_STRING, self.mac_len());
        let digest_at = out.len();
        out.resize(digest_at + self.mac_len(), 0);
        let salt = self.security.privacy.map(|(_, _, salt)| salt);
        ber::write_octets(
            out,
            tag::OCTET_STRING,
            salt.as_ref().map_or(&[][..], |salt| &salt[..]),
        );
        match self.security.privacy {
            None => self.write_scoped(out, &layout, pdu),
            Some((protocol, key, salt)) => {
                scratch.clear();
                self.write_scoped(scratch, &layout, pdu);
                scratch.resize(protocol.encrypted_len(layout.scoped), 0);
                let params = PrivParams {
                    boots: self.boots,
                    time: self.time,
                    salt: &salt,
                };
                protocol.encrypt(key, params, scratch)?;
                ber::write_octets(out, tag::OCTET_STRING, scratch);
            }
        }
        debug_assert_eq!(out.len(), ber::tlv_len(layout.message_content));
        debug_assert!(layout.data > 0);
        if let Some((auth, key)) = self.security.auth {
            let (digest, len) = auth.mac(key, &[out]);
            out[digest_at..digest_at + len].copy_from_slice(&digest[..len]);
        }
        Ok(())
    }

    fn write_scoped(&self, out: &mut Vec<u8>, layout: &Layout, pdu: Pdu<'_>) {
        ber::write_header(out, tag::SEQUENCE, layout.scoped_content);
        ber::write_octets(out, tag::OCTET_STRING, self.context_engine_id);
        ber::write_octets(out, tag::OCTET_STRING, self.context_name);
        pdu.header.write(out, pdu.varbinds);
    }
}

/// Encodes a Report's single varbind (the counter that was incremented).
pub fn report_varbind(out: &mut Vec<u8>, report: &Report) {
    out.clear();
    let value = SimValue::Counter32(report.value);
    ber::write_varbind(out, &report.stat.oid(), VarValue::Value(&value));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::agent::message::{decode_message, Incoming};

    fn envelope<'a>(security: ResponseSecurity<'a>) -> V3Envelope<'a> {
        V3Envelope {
            msg_id: 12345,
            max_size: 1472,
            engine_id: b"\x80\x00\x7e\xd9\x05simagent",
            boots: 1,
            time: 300,
            user_name: b"shaaes",
            security,
            context_engine_id: b"\x80\x00\x7e\xd9\x05simagent",
            context_name: b"",
            reportable: false,
        }
    }

    #[test]
    fn written_size_matches_and_the_message_decodes() {
        let key = [3u8; 32];
        let salt = [9u8; SALT_LEN];
        let securities = [
            ResponseSecurity {
                auth: None,
                privacy: None,
            },
            ResponseSecurity {
                auth: Some((UsmAuth::Sha1, &key)),
                privacy: None,
            },
            ResponseSecurity {
                auth: Some((UsmAuth::Sha256, &key)),
                privacy: Some((UsmPriv::Aes128, &key, salt)),
            },
            ResponseSecurity {
                auth: Some((UsmAuth::Md5, &key)),
                privacy: Some((UsmPriv::Des, &key, salt)),
            },
        ];
        let mut varbinds = Vec::new();
        ber::write_varbind(
            &mut varbinds,
            &[1, 3, 6, 1, 2, 1, 1, 5, 0],
            VarValue::Value(&SimValue::OctetString(vec![b'n'; 150])),
        );
        for security in securities {
            let envelope = envelope(security);
            let pdu = message::PduHeader {
                tag: tag::RESPONSE,
                request_id: 99,
                error_status: 0,
                error_index: 0,
            };
            let (mut out, mut scratch) = (Vec::new(), Vec::new());
            envelope
                .write(
                    &mut out,
                    &mut scratch,
                    Pdu {
                        header: pdu,
                        varbinds: &varbinds,
                    },
                )
                .unwrap();
            assert_eq!(out.len(), envelope.message_len(pdu.pdu_len(varbinds.len())));
            let Ok(Incoming::V3(message)) = decode_message(&out) else {
                panic!("response does not decode")
            };
            assert_eq!(message.msg_id, 12345);
            assert_eq!(message.usm.user_name, b"shaaes");
            assert_eq!(message.usm.auth_params.len(), envelope.mac_len());
            if let Some((auth, key)) = security.auth {
                let range = message.usm.auth_params_at.clone();
                let zeros = [0u8; 64];
                let (digest, len) = auth.mac(
                    key,
                    &[
                        &out[..range.start],
                        &zeros[..range.len()],
                        &out[range.end..],
                    ],
                );
                assert_eq!(&digest[..len], message.usm.auth_params);
            }
        }
    }

    mod security_checks {
        use super::*;
        use crate::config::Secret;
        use crate::simulator::agent::usm::UserTable;
        use crate::simulator::agent::{engine_id_for, UsmUser};

        const ENGINE_TIME: u32 = 1000;

        struct Fixture {
            users: UserTable,
            keys: Box<[LocalKeys]>,
            engine_id: Vec<u8>,
            counters: UsmCounters,
        }

        fn fixture() -> Fixture {
            let users = UserTable::new(&[UsmUser {
                name: "alice".into(),
                auth: UsmAuth::Sha1,
                auth_password: Secret::new("alicepassword"),
                privacy: Some((UsmPriv::Aes128, Secret::new("aliceprivacy"))),
            }])
            .unwrap();
            let engine_id = engine_id_for(1);
            Fixture {
                keys: users.localize(&engine_id),
                users,
                engine_id,
                counters: UsmCounters::default(),
            }
        }

        /// A GET request for sysName.0 (request-id 4242) with the given security.
        fn request(envelope: V3Envelope<'_>) -> Vec<u8> {
            let mut varbinds = Vec::new();
            ber::write_varbind(
                &mut varbinds,
                &[1, 3, 6, 1, 2, 1, 1, 5, 0],
                VarValue::EndOfMibView,
            );
            let header = message::PduHeader {
                tag: tag::GET,
                request_id: 4242,
                error_status: 0,
                error_index: 0,
            };
            let (mut out, mut scratch) = (Vec::new(), Vec::new());
            envelope
                .write(
                    &mut out,
                    &mut scratch,
                    Pdu {
                        header,
                        varbinds: &varbinds,
                    },
                )
                .unwrap();
            out
        }

        /// Runs the checks on a request; returns the report's counter or the accepted user.
        fn verdict(
            fixture: &Fixture,
            datagram: &[u8],
        ) -> Result<Option<usize>, (UsmStat, Option<usize>)> {
            let keys = || &fixture.keys[..];
            let engine = Engine {
                engine_id: &fixture.engine_id,
                boots: 1,
                time: ENGINE_TIME,
                users: &fixture.users,
                keys: &keys,
                counters: &fixture.counters,
            };
            let Ok(crate::simulator::agent::message::Incoming::V3(message)) =
                decode_message(datagram)
            else {
                panic!("request does not decode")
            };
            let mut plain = Vec::new();
            match check(&engine, datagram, &message, &mut plain) {
                Verdict::Accept(accepted) => {
                    let mut oids = message::OidList::default();
                    let pdu = message::decode_pdu(
                        accepted.scoped.pdu_tag,
                        accepted.scoped.pdu,
                        &mut oids,
                    )
                    .unwrap();
                    assert_eq!(pdu.request_id, 4242);
                    assert_eq!(oids.get(0), &[1, 3, 6, 1, 2, 1, 1, 5, 0]);
                    Ok(accepted.user)
                }
                Verdict::Report(report) => Err((report.stat, report.signed_for)),
                Verdict::Silent => Err((UsmStat::UnsupportedSecLevels, Some(usize::MAX))),
                Verdict::Discard(error) => panic!("discarded: {error}"),
            }
        }

        fn base<'a>(fixture: &'a Fixture, security: ResponseSecurity<'a>) -> V3Envelope<'a> {
            V3Envelope {
                msg_id: 7,
                max_size: 65_507,
                engine_id: &fixture.engine_id,
                boots: 1,
                time: ENGINE_TIME,
                user_name: b"alice",
                security,
                context_engine_id: &fixture.engine_id,
                context_name: b"",
                reportable: true,
            }
        }

        fn auth_priv<'a>(auth_key: &'a [u8], priv_key: &'a [u8]) -> ResponseSecurity<'a> {
            ResponseSecurity {
                auth: Some((UsmAuth::Sha1, auth_key)),
                privacy: Some((UsmPriv::Aes128, priv_key, [5; SALT_LEN])),
            }
        }

        #[test]
        fn checks_run_in_rfc_3414_order() {
            let fixture = fixture();
            let keys = &fixture.keys[0];
            let Some((_, priv_key)) = &keys.privacy else {
                panic!("user has privacy")
            };
            let none = ResponseSecurity {
                auth: None,
                privacy: None,
            };

            let discovery = V3Envelope {
                engine_id: b"",
                user_name: b"",
                ..base(&fixture, none)
            };
            assert_eq!(
                verdict(&fixture, &request(discovery)),
                Err((UsmStat::UnknownEngineIds, None))
            );
            let stranger = V3Envelope {
                user_name: b"bob",
                ..base(&fixture, none)
            };
            assert_eq!(
                verdict(&fixture, &request(stranger)),
                Err((UsmStat::UnknownUserNames, None))
            );

            let good = base(&fixture, auth_priv(&keys.auth_key, priv_key));
            assert_eq!(verdict(&fixture, &request(good)), Ok(Some(0)));
            assert_eq!(verdict(&fixture, &request(base(&fixture, none))), Ok(None));

            let wrong_key = [0u8; 20];
            let forged = base(&fixture, auth_priv(&wrong_key, priv_key));
            assert_eq!(
                verdict(&fixture, &request(forged)),
                Err((UsmStat::WrongDigests, None))
            );

            let late = V3Envelope {
                time: ENGINE_TIME + 151,
                ..good
            };
            assert_eq!(
                verdict(&fixture, &request(late)),
                Err((UsmStat::NotInTimeWindows, Some(0)))
            );
            let just_in_time = V3Envelope {
                time: ENGINE_TIME - 150,
                ..good
            };
            assert_eq!(verdict(&fixture, &request(just_in_time)), Ok(Some(0)));
            let rebooted = V3Envelope { boots: 2, ..good };
            assert_eq!(
                verdict(&fixture, &request(rebooted)),
                Err((UsmStat::NotInTimeWindows, Some(0)))
            );

            let garbled = base(&fixture, auth_priv(&keys.auth_key, &wrong_key));
            assert_eq!(
                verdict(&fixture, &request(garbled)),
                Err((UsmStat::DecryptionErrors, None))
            );

            let quiet = V3Envelope {
                reportable: false,
                ..forged
            };
            assert_eq!(
                verdict(&fixture, &request(quiet)),
                Err((UsmStat::UnsupportedSecLevels, Some(usize::MAX)))
            );

            // Every failure was counted in usmStats.
            for (stat, count) in [
                (UsmStat::UnknownEngineIds, 1),
                (UsmStat::UnknownUserNames, 1),
                (UsmStat::WrongDigests, 2),
                (UsmStat::NotInTimeWindows, 2),
                (UsmStat::DecryptionErrors, 1),
            ] {
                assert_eq!(fixture.counters.get(stat), count, "{stat:?}");
            }
        }
    }
}

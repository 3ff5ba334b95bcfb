//! The feedback parsers and receipts, line by line.

use super::*;
use serde_json::json;

fn record(fields: &[&str]) -> csv::ByteRecord {
    csv::ByteRecord::from(fields.to_vec())
}

#[test]
fn csv_lines_with_bad_row_numbers_or_labels_are_refused() {
    // Header request_id,row,label.
    let line = |f: &[&str]| csv_line(&record(f), 2, None, Some(0), Some(1));
    assert_eq!(
        line(&["r", "3", "1"]),
        Ok((
            FeedbackKey::Request {
                request_id: "r".into(),
                row: 3
            },
            1.0
        ))
    );
    assert_eq!(
        line(&["r", "", "0"]).unwrap().0,
        FeedbackKey::Request {
            request_id: "r".into(),
            row: 0
        },
        "an empty row is row 0"
    );
    for (fields, why) in [
        (&["r", "-1", "1"][..], "is not a row number"),
        (&["r", "99999999999999999999", "1"], "is not a row number"),
        (&["r", "1.5", "1"], "is not a row number"),
        (&["r", "0", "yes"], "is not a number"),
        (&["r", "0", "NaN"], "is not a number"),
        (&["r", "0"], "no label"),
        (&["", "0", "1"], "no row_id or request_id"),
    ] {
        let e = line(fields).unwrap_err();
        assert!(e.contains(why), "{fields:?}: {e}");
    }
    let not_utf8 = csv::ByteRecord::from(vec![&b"r\xff"[..], b"0", b"1"]);
    assert!(csv_line(&not_utf8, 2, None, Some(0), Some(1))
        .unwrap_err()
        .contains("UTF-8"));
}

#[test]
fn json_items_with_bad_row_numbers_or_labels_are_refused() {
    let item = |v: Value| json_item(serde_json::from_value(v).unwrap());
    assert_eq!(
        item(json!({"row_id": 17, "label": 0})),
        Ok((FeedbackKey::RowId("17".into()), 0.0))
    );
    assert_eq!(
        item(json!({"request_id": "r", "row": 2, "label": 1}))
            .unwrap()
            .0,
        FeedbackKey::Request {
            request_id: "r".into(),
            row: 2
        }
    );
    for (v, why) in [
        (
            json!({"request_id": "r", "row": -1, "label": 1}),
            "is not a row number",
        ),
        (
            json!({"request_id": "r", "row": 1.5, "label": 1}),
            "is not a row number",
        ),
        (
            json!({"request_id": "r", "row": "2", "label": 1}),
            "is not a row number",
        ),
        (
            json!({"request_id": "r", "row": 5e9, "label": 1}),
            "is not a row number",
        ),
        (
            json!({"request_id": "r", "label": "1"}),
            "label must be a number",
        ),
        (json!({"request_id": "r"}), "label must be a number"),
        (json!({"label": 1}), "give either"),
        (
            json!({"row_id": "a", "request_id": "r", "label": 1}),
            "give either",
        ),
        (json!({"row_id": [1], "label": 1}), "row_id must be"),
        (json!({"request_id": 7, "label": 1}), "request_id must be"),
    ] {
        let e = item(v.clone()).unwrap_err();
        assert!(e.contains(why), "{v}: {e}");
    }
}

#[test]
fn the_json_document_is_walked_item_by_item_and_checked_whole() {
    let mut n = 0;
    walk_json(
        br#"{"feedback": [{"row_id": "a", "label": 1}, {"label": 2}]}"#,
        |_| {
            n += 1;
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(n, 2);
    for bad in [
        &br#"{"feedback": [{"row_id": "a", "label": 1, "extra": 0}]}"#[..],
        br#"{"feedback": [], "other": 1}"#,
        br#"{"feedback": [{"row_id": "a", "label": 1}]"#,
        br#"{"items": []}"#,
        br#"{}"#,
        br#"[]"#,
        br#"{"feedback": [], "feedback": []}"#,
        br#"{"feedback": []} trailing"#,
    ] {
        assert!(
            walk_json(bad, |_| Ok(())).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

//! Every label of the dashboard, one table per language, and the formatting of numbers and
//! dates per language. A key missing from a table shows as `⟦key⟧` (the tests look for it).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};
use partyedu_domain::Reason;
use partyedu_domain::decide::fill;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// `zh-CN` (the default) or `en`.
    pub fn parse(text: &str) -> Option<Lang> {
        match text {
            "zh" | "zh-CN" | "zh-cn" => Some(Lang::Zh),
            "en" | "en-US" | "en-GB" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language (for the switch link).
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    fn table(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::Zh => ZH,
            Lang::En => EN,
        }
    }

    /// The label of `key`.
    pub fn t(self, key: &str) -> &'static str {
        self.lookup(key).unwrap_or("⟦missing label⟧")
    }

    fn lookup(self, key: &str) -> Option<&'static str> {
        self.table()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// Why something was refused, in this language: the wording of the reason's code
    /// ([`ZH_REASONS`]) with its values — dates, org kinds, roles and field names as this
    /// language writes them. English is the domain's own wording (what the API says).
    pub fn reason(self, reason: &Reason) -> String {
        let template = match self {
            Lang::Zh => ZH_REASONS.iter().find(|(c, _)| *c == reason.code),
            Lang::En => None,
        };
        match template {
            Some((_, template)) => fill(template, |name| {
                reason.get(name).map(|v| self.reason_value(name, v))
            }),
            None => reason.english(),
        }
    }

    fn reason_value(self, name: &str, value: &str) -> String {
        match name {
            "orgkind" | "parent_orgkind" => self.value("orgkind", value),
            "role" => self.value("role", value),
            "field" => self
                .lookup(&format!("field.{value}"))
                .map_or_else(|| value.to_owned(), str::to_owned),
            _ => NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map_or_else(|_| value.to_owned(), |d| self.date(d)),
        }
    }

    /// The label of an enum value (`group.frail`), else the value itself.
    pub fn value(self, prefix: &str, value: &str) -> String {
        let key = format!("{prefix}.{value}");
        self.table()
            .iter()
            .find(|(k, _)| *k == key)
            .map_or_else(|| value.to_owned(), |(_, v)| (*v).to_owned())
    }

    /// An integer with thousands separators (both languages group by three: 4,000).
    pub fn int(self, n: i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if n < 0 { format!("-{out}") } else { out }
    }

    /// A share (0.9623) as a percentage with one decimal: 96.2%; a dash for none.
    pub fn rate(self, rate: Option<f64>) -> String {
        match rate {
            Some(r) => format!("{:.1}%", r * 100.0),
            None => "—".to_owned(),
        }
    }

    /// Hours: 2.5, 32.
    pub fn hours(self, hours: f64) -> String {
        if hours.fract() == 0.0 {
            format!("{hours:.0}")
        } else {
            let text = format!("{hours:.2}");
            text.trim_end_matches('0').to_owned()
        }
    }

    /// 2024年3月5日 / 5 Mar 2024.
    pub fn date(self, date: NaiveDate) -> String {
        match self {
            Lang::Zh => format!("{}年{}月{}日", date.year(), date.month(), date.day()),
            Lang::En => format!(
                "{} {} {}",
                date.day(),
                MONTHS[date.month0() as usize],
                date.year()
            ),
        }
    }

    /// A date and a time of day in the timestamp's own offset.
    pub fn datetime(self, at: DateTime<FixedOffset>) -> String {
        format!("{} {}", self.date(at.date_naive()), at.format("%H:%M"))
    }

    /// An RFC 3339 text as a local date and time; unparseable text as it is.
    pub fn timestamp(self, text: &str) -> String {
        DateTime::parse_from_rfc3339(text).map_or_else(|_| text.to_owned(), |at| self.datetime(at))
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The zh-CN wording of every refusal's reason code (`partyedu_domain::REASONS`); `{name}`
/// stands for the reason's value `name`.
pub const ZH_REASONS: &[(&str, &str)] = &[
    ("unknown_type", "未知的记录类型"),
    ("unknown_field", "含有未知的字段"),
    ("missing_field", "必填"),
    ("wrong_type", "填写的内容格式不对"),
    ("unknown_choice", "不是可选的值"),
    ("bad_id", "编号只能由 1 到 64 个字母、数字或 ._:- 组成"),
    ("blank_text", "不能为空"),
    ("text_too_long", "不能超过 2000 字"),
    ("bad_hours", "学时须为 0 到 24 之间、最多两位小数的数"),
    (
        "bad_date",
        "日期须为真实日期，写成 年-月-日（如 2024-03-05）",
    ),
    ("bad_timestamp", "时间须写成 年-月-日 时:分"),
    ("repeated", "列表中有重复的项"),
    ("empty_list", "至少填写一项"),
    ("bad_value", "填写的值不合要求（{detail}）"),
    (
        "event_id_reused",
        "事件编号 {id} 已用于另一条内容不同的记录（{type}）",
    ),
    ("future_date", "{date}晚于明天（{limit}），不能登记将来的事"),
    ("zero_hours", "班次和党课的学时须大于 0"),
    ("birth_year_range", "须在 1900 到 {latest} 年之间"),
    ("id_used", "编号 {id} 已被使用（作废的记录也占用编号）"),
    ("unknown_org", "没有编号为 {id} 的组织"),
    ("unknown_venue", "没有编号为 {id} 的场所"),
    ("unknown_lecturer", "没有编号为 {id} 的授课人"),
    ("org_not_established", "组织 {id} 于{on}才成立，晚于{date}"),
    ("venue_not_opened", "场所 {id} 于{on}才启用，晚于{date}"),
    (
        "lecturer_not_enlisted",
        "授课人 {id} 于{on}才入库，晚于{date}",
    ),
    (
        "not_a_branch",
        "{id} 是{orgkind}；党员只能编入网格党支部或党小组",
    ),
    ("unknown_member", "没有编号为 {id} 的党员"),
    ("not_enrolled", "党员 {id} 在{date}不在册"),
    (
        "registry_order",
        "{date}早于该党员最近一次名册变动（{last}）；名册变动须按日期先后登记",
    ),
    ("unknown_wish", "没有编号为 {id} 的微心愿"),
    ("wish_fulfilled", "微心愿 {id} 已完成，之后不能再有变动"),
    ("wish_withdrawn", "微心愿 {id} 已撤回，之后不能再有变动"),
    ("wish_order", "{date}早于该微心愿上一步的日期（{last}）"),
    ("wish_not_open", "该微心愿已被 {by} 认领，须为待认领状态"),
    ("wish_not_claimed", "该微心愿尚无人认领，须先认领"),
    ("not_the_claimer", "只有认领人 {by} 才能退回该微心愿"),
    ("in_both_lists", "党员 {id} 已列在“{field}”中"),
    ("own_buddy", "不能指定党员本人为其联系人"),
    ("self_contact", "联系人不能是该党员本人"),
    ("parent_needed", "{orgkind}须有上级组织；只有街道是最上级"),
    (
        "parent_rank",
        "{orgkind}不能隶属于{parent_orgkind}（{parent}）",
    ),
    ("already_full", "党员 {id} 已是正式党员"),
    ("same_branch", "党员 {id} 已在 {branch}"),
    (
        "activity_after_leaving",
        "党员 {id} 在{last}还参加了活动，不早于离册日期{on}；请先作废那些记录",
    ),
    ("already_mobile", "党员 {id} 已是流动党员"),
    ("not_mobile", "党员 {id} 不是流动党员"),
    (
        "buddy_not_mobile",
        "党员 {id} 不是流动党员；只有流动党员才指定联系人",
    ),
    ("role_held", "党员 {id} 已在 {org} 担任{role}"),
    ("role_not_held", "党员 {id} 未在 {org} 担任{role}"),
    (
        "still_enrolled",
        "党员 {id} 在册；只有已离册的党员才能重新入册",
    ),
    ("correction_empty", "更正须至少包含姓名或出生年份之一"),
    ("correction_unchanged", "更正没有改动：该党员的信息本来如此"),
    ("amendment_empty", "出勤更正须至少补记或撤销一人"),
    ("unknown_class", "没有编号为 {id} 的班次"),
    ("class_voided", "班次 {id} 已作废"),
    ("already_attends", "党员 {id} 已在该班次的出勤名单中"),
    ("not_attending", "党员 {id} 不在该班次的出勤名单中"),
    ("unknown_event", "没有编号为 {id} 的已保存记录"),
    ("already_voided", "记录 {id} 已作废"),
    ("amended_class_voided", "该出勤更正所属的班次 {id} 已作废"),
    (
        "not_latest_amendment",
        "只能作废班次最近一次有效的出勤更正；请先作废其后的更正",
    ),
    (
        "undo_brings_back",
        "撤销它会让党员 {id} 回到班次，但其在{date}不在册",
    ),
    (
        "not_voidable_wish",
        "{type} 记录不能作废；微心愿登记有误，以退回更正",
    ),
    ("not_voidable_void", "作废记录本身不能再作废"),
    (
        "not_voidable_list",
        "{type} 记录不能作废；请另发更正后的学习清单",
    ),
    (
        "not_voidable_registry",
        "{type} 记录不能作废；名册登记有误，以相应的名册变动更正",
    ),
];

/// 中文（默认）.
pub const ZH: &[(&str, &str)] = &[
    ("app.name", "党员教育培训台账"),
    ("app.skip", "跳到正文"),
    ("nav.overview", "总览"),
    ("nav.coverage", "覆盖情况"),
    ("nav.unreached", "未覆盖名单"),
    ("nav.noncompliant", "学时未达标名单"),
    ("nav.lectures", "专题党课"),
    ("nav.frail", "困弱党员走访台账"),
    ("nav.mobile", "流动党员联系台账"),
    ("nav.wishes", "微心愿"),
    ("nav.classes", "班次台账"),
    ("nav.projections", "统计状态"),
    ("nav.whatif", "规则对比"),
    ("nav.log", "审计日志"),
    ("nav.history", "学习档案"),
    ("nav.main", "主导航"),
    ("auth.signin", "登录"),
    ("auth.signout", "退出"),
    ("auth.token", "访问令牌"),
    ("auth.token_hint", "请输入管理员发放的令牌（以 pe_ 开头）。"),
    ("auth.bad_token", "令牌无效或已被吊销。"),
    ("auth.role", "角色"),
    ("auth.scope", "范围"),
    ("auth.whole", "全街道"),
    ("auth.signed_in_as", "当前用户"),
    ("basis.title", "统计口径"),
    ("basis.org", "组织"),
    ("basis.year", "年度"),
    ("basis.rules", "规则集"),
    ("basis.version", "版本"),
    ("basis.as_of", "统计截至"),
    ("basis.position", "日志位置"),
    ("basis.live", "最新"),
    ("basis.reference_date", "参照日期"),
    ("basis.group", "群体"),
    ("basis.apply", "应用"),
    ("basis.reset", "恢复最新"),
    ("basis.as_of_hint", "留空表示最新"),
    ("basis.whatif", "按其他规则集试算"),
    ("lang.switch", "English"),
    ("lang.label", "语言"),
    ("export.csv", "导出 CSV"),
    ("export.xlsx", "导出 Excel"),
    ("export.label", "导出"),
    ("list.rows", "共 {n} 条"),
    ("list.shown", "显示第 {from}–{to} 条"),
    ("list.prev", "上一页"),
    ("list.next", "下一页"),
    ("list.empty", "无记录"),
    ("list.order", "按组织和编号排列，不作个人排名。"),
    ("page.overview", "年度总览"),
    ("page.coverage", "覆盖与达标情况"),
    ("page.unreached", "未覆盖党员名单"),
    ("page.noncompliant", "学时未达标党员名单"),
    ("page.lectures", "专题党课"),
    ("page.frail", "困弱党员走访台账"),
    ("page.mobile", "流动党员联系台账"),
    ("page.wishes", "微心愿认领情况"),
    ("page.classes", "班次台账"),
    ("page.projections", "统计状态"),
    ("page.whatif", "规则集对比"),
    ("page.log", "审计日志"),
    ("page.event", "事件记录"),
    ("page.history", "党员学习档案"),
    ("page.error", "出错了"),
    ("page.signin", "登录"),
    ("fig.classes", "举办班次"),
    ("fig.field_trips", "现场教学"),
    ("fig.party_lectures", "专题党课"),
    ("fig.leader_lectures", "街道领导讲党课"),
    ("fig.members", "党员人数"),
    ("fig.members_reached", "已覆盖党员"),
    ("fig.home_visits", "走访困弱党员"),
    ("fig.wishes_claimed", "认领微心愿"),
    ("fig.wishes_fulfilled", "完成微心愿"),
    ("col.org", "组织"),
    ("col.org_id", "组织编号"),
    ("col.group", "群体"),
    ("col.in_scope", "应覆盖人数"),
    ("col.reached", "已覆盖"),
    ("col.reached_rate", "覆盖率"),
    ("col.compliant", "学时达标"),
    ("col.compliant_rate", "达标率"),
    ("col.unreached", "未覆盖"),
    ("col.noncompliant", "未达标"),
    ("col.member_id", "党员编号"),
    ("col.name", "姓名"),
    ("col.groups", "所属群体"),
    ("col.credited_hours", "已计学时"),
    ("col.required_hours", "应修学时"),
    ("col.lectures", "党课次数"),
    ("col.study_hours", "学时"),
    ("col.unique_attendees", "听课人数"),
    ("col.roles", "职务"),
    ("col.last_visit", "最近走访"),
    ("col.days_since", "距今天数"),
    ("col.overdue", "是否逾期"),
    ("col.since", "外出时间"),
    ("col.destination", "去向"),
    ("col.buddy", "联系人"),
    ("col.last_contact", "最近联系"),
    ("col.class_id", "班次编号"),
    ("col.title", "名称"),
    ("col.form", "形式"),
    ("col.organizer", "举办组织"),
    ("col.venue", "地点"),
    ("col.occurred_at", "时间"),
    ("col.attendees", "参学人数"),
    ("col.voided", "已作废"),
    ("col.kind", "类别"),
    ("col.record", "记录"),
    ("col.credited", "计入学时"),
    ("col.event", "事件"),
    ("col.void_reason", "作废原因"),
    ("col.open", "待认领"),
    ("col.claimed", "已认领"),
    ("col.fulfilled", "已完成"),
    ("col.withdrawn", "已撤回"),
    ("col.claimed_in_year", "本年认领"),
    ("col.fulfilled_in_year", "本年完成"),
    ("col.category", "类别"),
    ("col.grid", "网格"),
    ("col.position", "位置"),
    ("col.recorded_at", "记录时间"),
    ("col.stream", "流"),
    ("col.type", "事件类型"),
    ("col.actor", "记录人"),
    ("col.version", "版本"),
    ("col.projection", "统计模型"),
    ("col.generation", "代次"),
    ("col.checkpoint", "已处理到"),
    ("col.lag_events", "待处理事件"),
    ("col.lag_seconds", "延迟（秒）"),
    ("col.updated_at", "更新时间"),
    ("col.rebuild", "重建进度"),
    ("col.year", "年度"),
    ("col.live", "现行规则"),
    ("col.other", "对比规则"),
    ("col.changed", "有变化"),
    ("col.speaker", "主讲人"),
    ("col.data", "内容"),
    ("col.metadata", "元数据"),
    ("col.event_id", "事件编号"),
    ("col.value", "数值"),
    ("yes", "是"),
    ("no", "否"),
    ("overdue", "逾期"),
    ("never", "从未"),
    ("changed", "有变化"),
    (
        "note.coverage",
        "覆盖：本年至少参加一次计入学时的学习；达标：学时和集中培训次数达到要求。点击数字查看对应名单。",
    ),
    (
        "note.coverage_links",
        "“已覆盖”“达标”两列的数字链接到其余党员（未覆盖、未达标）名单。",
    ),
    ("note.frail", "超过规则集规定天数未走访的标记为逾期。"),
    ("note.mobile", "超过规则集规定天数未联系的标记为逾期。"),
    (
        "note.whatif",
        "同一口径下现行规则集与对比规则集的覆盖与达标人数；变化的单元格已标出。",
    ),
    ("note.whatif_changed", "有变化的单元格数"),
    ("note.only_changed", "只看有变化的"),
    ("note.show_all", "显示全部"),
    (
        "note.log_scope",
        "审计日志只对全街道范围的审计员和管理员开放。",
    ),
    ("note.record_api", "审计接口中的该记录"),
    ("note.missing_lecture", "本年尚未讲党课的领导"),
    ("note.wish_by_category", "按类别"),
    ("note.wish_by_grid", "按网格"),
    ("note.wish_totals", "合计"),
    ("note.years", "各年度学时"),
    ("note.entries", "学习记录"),
    ("note.rebuild_none", "无"),
    ("note.chart", "各组织覆盖率与达标率"),
    ("note.children", "下级组织"),
    ("note.up", "上级组织"),
    ("note.by_group", "按群体"),
    ("note.print", "打印"),
    ("note.page_of", "第 {p} 页"),
    ("note.tabulator", "制表人"),
    ("note.reviewer", "审核人"),
    ("filter.type", "事件类型"),
    ("filter.stream", "流"),
    ("filter.from", "起始日期"),
    ("filter.after", "起始位置之后"),
    ("filter.any", "全部"),
    ("filter.form", "形式"),
    ("filter.other", "对比规则集"),
    ("error.403", "当前令牌无权查看此页面。"),
    ("error.404", "没有找到。"),
    ("error.400", "请求参数有误。"),
    ("error.503", "统计尚未处理到所请求的日志位置，请稍后再试。"),
    ("error.500", "服务器出错，原因已写入服务器日志。"),
    ("group.all", "全体党员"),
    ("group.committee", "两委成员"),
    ("group.grid_secretary", "网格党支部书记"),
    ("group.frail", "困弱党员"),
    ("group.mobile", "流动党员"),
    ("group.ordinary", "普通党员"),
    ("form.concentrated", "集中培训"),
    ("form.seminar", "专题研讨"),
    ("form.online", "线上学习"),
    ("form.field_trip", "现场教学"),
    ("form.forum", "论坛"),
    ("form.competition", "知识竞赛"),
    ("form.night_school", "夜校"),
    ("kind.class", "培训班"),
    ("kind.party_lecture", "专题党课"),
    ("kind.home_visit", "上门送学"),
    ("kind.online_study", "线上学习"),
    ("kind.org_life_meeting", "组织生活会"),
    ("role.subdistrict_leader", "街道领导"),
    ("role.community_secretary", "社区书记"),
    ("role.committee_member", "两委成员"),
    ("role.grid_secretary", "网格党支部书记"),
    ("role.branch_secretary", "支部书记"),
    ("role.party_group_leader", "党小组长"),
    ("token.recorder", "记录员"),
    ("token.viewer", "查看者"),
    ("token.auditor", "审计员"),
    ("token.admin", "管理员"),
    ("orgkind.subdistrict", "街道"),
    ("orgkind.community", "社区"),
    ("orgkind.grid_branch", "网格党支部"),
    ("orgkind.party_group", "党小组"),
    ("category.grid_patrol", "网格巡查"),
    ("category.merchant_visit", "走访商户"),
    ("category.dispute_mediation", "矛盾调解"),
    ("category.volunteer_service", "志愿服务"),
    ("category.other", "其他"),
    ("purpose.home_study_delivery", "送学上门"),
    ("purpose.books_delivered", "送书"),
    ("purpose.care_visit", "关怀走访"),
    ("purpose.political_birthday", "政治生日"),
    ("nav.record", "录入"),
    ("page.record", "录入记录"),
    ("page.recorded", "已录入"),
    ("page.upload", "上传表格"),
    ("form_title.class", "班次（培训）"),
    ("form_title.lecture", "专题党课"),
    ("form_title.visit", "走访（送学上门）"),
    ("form_title.wish-claim", "认领微心愿"),
    ("form_title.wish-fulfil", "微心愿已实现"),
    ("form_title.online", "线上学习"),
    ("form_title.contact", "联系流动党员"),
    ("form_title.void", "作废本记录"),
    ("form_title.amend", "更正出勤名单"),
    ("field.class_id", "班次编号"),
    ("field.title", "标题"),
    ("field.form", "形式"),
    ("field.venue_id", "场所编号"),
    ("field.organizer_org_id", "举办组织"),
    ("field.starts_at", "开始时间"),
    ("field.duration_minutes", "时长（分钟）"),
    ("field.study_hours", "学时"),
    ("field.lecturer_ids", "授课人编号"),
    ("field.attendee_ids", "参加人员"),
    ("field.lecture_id", "党课编号"),
    ("field.speaker_id", "主讲人"),
    ("field.audience_org_id", "听课组织"),
    ("field.given_at", "讲课时间"),
    ("field.visit_id", "走访编号"),
    ("field.member_id", "党员"),
    ("field.visitor_ids", "走访人员"),
    ("field.visited_on", "走访日期"),
    ("field.purposes", "走访内容"),
    ("field.note", "备注"),
    ("field.wish_id", "微心愿编号"),
    ("field.claimed_on", "认领日期"),
    ("field.fulfilled_on", "实现日期"),
    ("field.log_id", "学习记录编号"),
    ("field.platform", "平台"),
    ("field.studied_on", "学习日期"),
    ("field.contact_id", "联系编号"),
    ("field.contacted_by", "联系人"),
    ("field.contacted_on", "联系日期"),
    ("field.channel", "联系方式"),
    ("field.event_id", "事件编号"),
    ("field.reason", "原因"),
    ("field.added", "补记出勤"),
    ("field.removed", "撤销出勤"),
    ("platform.xuexi_qiangguo", "学习强国"),
    ("platform.lighthouse_classroom", "灯塔大课堂"),
    ("platform.shandong_online_academy", "山东党员网络学院"),
    ("platform.other", "其他平台"),
    ("channel.phone", "电话"),
    ("channel.video", "视频"),
    ("channel.message", "消息"),
    ("channel.in_person", "当面"),
    (
        "rec.members_hint",
        "每行一人，或用逗号、顿号分隔；填党员编号或姓名",
    ),
    ("rec.member_hint", "党员编号或姓名"),
    ("rec.ids_hint", "编号，用逗号分隔"),
    ("rec.required", "必填"),
    ("rec.duplicate", "“{name}”（{id}）重复列出"),
    ("rec.unknown_member", "没有编号或姓名为“{name}”的党员"),
    (
        "rec.ambiguous_member",
        "“{name}”重名（{ids}），请填写党员编号",
    ),
    ("rec.out_of_scope", "超出本账号的组织范围"),
    ("rec.scope_org", "组织 {org} 不在本账号的范围 {root} 之内"),
    (
        "rec.scope_member",
        "{member} 所在的 {org} 不在本账号的范围 {root} 之内",
    ),
    ("rec.refused", "未通过校验"),
    (
        "rec.nothing_stored",
        "未保存任何内容，请按提示修改后重新提交。",
    ),
    ("rec.stored", "已保存。以下为保存的记录及包含它的统计。"),
    ("rec.another", "再录一条"),
    ("rec.submit", "提交"),
    ("upload.template", "下载模板"),
    ("upload.problems", "问题（行、列）"),
    ("upload.no_file", "请选择要上传的文件。"),
    (
        "upload.bad_format",
        "只能上传 .xlsx 或 .csv 文件（CSV 可为 UTF-8 或 GB18030）。",
    ),
    ("upload.preview", "预览：将要录入的记录"),
    (
        "upload.clean",
        "文件无问题。确认后一次性全部录入；确认前不保存任何内容。",
    ),
    ("upload.stored", "已录入 {n} 条记录（已录入过的不再重复）。"),
    ("upload.kind", "表格类型"),
    ("upload.file", "文件"),
    ("upload.submit", "上传并预览"),
    ("upload.confirm", "确认录入"),
    ("sheet.class-register", "班次登记表"),
    ("sheet.online-hours", "线上学习时长"),
    ("col.row", "行"),
    ("col.column", "列"),
    ("col.problem", "问题"),
    ("form_title.wish-release", "退回微心愿"),
    ("form_title.meeting", "组织生活会议"),
    ("form_title.enrol", "党员入册"),
    ("form_title.transfer", "党员转接（转入其他支部）"),
    ("form_title.leave", "党员离册"),
    ("form_title.reenrol", "党员重新入册"),
    ("form_title.mobile", "党员外出流动"),
    ("form_title.return", "流动党员返回"),
    ("field.released_on", "退回日期"),
    ("field.meeting_id", "会议编号"),
    ("field.branch_id", "所在支部"),
    ("field.kind", "类型"),
    ("field.held_on", "召开日期"),
    ("field.excused_ids", "请假人员"),
    ("field.name", "姓名"),
    ("field.membership", "党员类别"),
    ("field.joined_on", "入党日期"),
    ("field.enrolled_on", "入册日期"),
    ("field.employment", "就业状况"),
    ("field.frail", "困弱"),
    ("field.hardship", "生活困难"),
    ("field.birth_year", "出生年份"),
    ("field.to_branch_id", "转入支部"),
    ("field.on", "日期"),
    ("field.since", "外出日期"),
    ("field.destination", "外出去向"),
    ("meeting.branch_general_meeting", "支部党员大会"),
    ("meeting.branch_committee_meeting", "支部委员会"),
    ("meeting.party_group_meeting", "党小组会"),
    ("meeting.themed_party_day", "主题党日"),
    ("meeting.org_life_meeting", "组织生活会"),
    ("membership.full", "正式党员"),
    ("membership.probationary", "预备党员"),
    ("employment.in_service", "在职"),
    ("employment.retired", "离退休"),
    ("employment.other", "其他"),
    ("leave.transferred_out", "转出"),
    ("leave.deceased", "去世"),
    ("leave.other", "其他"),
    ("mobile.work", "务工"),
    ("mobile.business", "经商"),
    ("mobile.study", "求学"),
    ("mobile.other", "其他"),
    ("form_title.wish-post", "发布微心愿"),
    ("form_title.wish-withdraw", "撤回微心愿"),
    ("form_title.full", "预备党员转正"),
    ("form_title.care", "困弱、困难状况变化"),
    ("form_title.buddy", "为流动党员指定联系人"),
    ("form_title.role-assign", "任职"),
    ("form_title.role-end", "免职"),
    ("field.grid_id", "所在网格"),
    ("field.category", "类别"),
    ("field.posted_on", "发布日期"),
    ("field.withdrawn_on", "撤回日期"),
    ("field.buddy_id", "联系人"),
    ("field.role", "职务"),
    ("field.org_id", "组织"),
    (
        "rec.key_used",
        "这张表单已经保存过，之后又被修改。若要另存为一条新记录，请核对后再次提交；否则请打开“再录一条”。",
    ),
    ("rec.pick_branch", "按支部选人"),
    ("rec.add_branch", "加入该支部全部党员"),
    ("rec.search_member", "查找党员（姓名或编号）"),
    ("rec.search", "查找"),
    (
        "rec.matches",
        "与“{q}”相符的党员：勾选后按“加入勾选的党员”，或直接提交",
    ),
    (
        "rec.no_match",
        "本账号范围内没有姓名或编号含“{q}”的在册党员。",
    ),
    ("rec.more_matches", "只列出前 50 名，请输入更多字缩小范围。"),
    ("rec.add_ticked", "加入勾选的党员"),
    (
        "rec.searched",
        "已按填写的查找内容列出党员，尚未保存；核对后请按“提交”。",
    ),
];

/// English.
pub const EN: &[(&str, &str)] = &[
    ("app.name", "Party education records"),
    ("app.skip", "Skip to content"),
    ("nav.overview", "Overview"),
    ("nav.coverage", "Coverage"),
    ("nav.unreached", "Not reached"),
    ("nav.noncompliant", "Short of hours"),
    ("nav.lectures", "Party lectures"),
    ("nav.frail", "Frail members' visits"),
    ("nav.mobile", "Mobile members"),
    ("nav.wishes", "Micro-wishes"),
    ("nav.classes", "Class register"),
    ("nav.projections", "Status"),
    ("nav.whatif", "Rule comparison"),
    ("nav.log", "Audit log"),
    ("nav.history", "Study history"),
    ("nav.main", "Main navigation"),
    ("auth.signin", "Sign in"),
    ("auth.signout", "Sign out"),
    ("auth.token", "Access token"),
    (
        "auth.token_hint",
        "Enter the token your administrator gave you (it starts with pe_).",
    ),
    ("auth.bad_token", "Unknown or revoked token."),
    ("auth.role", "Role"),
    ("auth.scope", "Scope"),
    ("auth.whole", "whole subdistrict"),
    ("auth.signed_in_as", "Signed in as"),
    ("basis.title", "Basis"),
    ("basis.org", "Org unit"),
    ("basis.year", "Year"),
    ("basis.rules", "Rule set"),
    ("basis.version", "version"),
    ("basis.as_of", "As of"),
    ("basis.position", "log position"),
    ("basis.live", "latest"),
    ("basis.reference_date", "reference date"),
    ("basis.group", "Group"),
    ("basis.apply", "Apply"),
    ("basis.reset", "Back to latest"),
    ("basis.as_of_hint", "empty for the latest"),
    ("basis.whatif", "what-if under another rule set"),
    ("lang.switch", "中文"),
    ("lang.label", "Language"),
    ("export.csv", "CSV"),
    ("export.xlsx", "Excel"),
    ("export.label", "Export"),
    ("list.rows", "{n} rows"),
    ("list.shown", "showing {from}–{to}"),
    ("list.prev", "Previous"),
    ("list.next", "Next"),
    ("list.empty", "Nothing to list"),
    (
        "list.order",
        "Ordered by org unit and id; nobody is ranked.",
    ),
    ("page.overview", "The year at a glance"),
    ("page.coverage", "Coverage and compliance"),
    ("page.unreached", "Members not reached"),
    ("page.noncompliant", "Members short of their study hours"),
    ("page.lectures", "Party lectures"),
    ("page.frail", "Frail members' home visits"),
    ("page.mobile", "Mobile members' contacts"),
    ("page.wishes", "Micro-wish board"),
    ("page.classes", "Class register"),
    ("page.projections", "Projections' status"),
    ("page.whatif", "Two rule sets compared"),
    ("page.log", "Audit log"),
    ("page.event", "Stored event"),
    ("page.history", "Member's study history"),
    ("page.error", "Something went wrong"),
    ("page.signin", "Sign in"),
    ("fig.classes", "Classes held"),
    ("fig.field_trips", "Field trips"),
    ("fig.party_lectures", "Party lectures"),
    ("fig.leader_lectures", "Lectures by subdistrict leaders"),
    ("fig.members", "Members"),
    ("fig.members_reached", "Members reached"),
    ("fig.home_visits", "Home visits"),
    ("fig.wishes_claimed", "Wishes claimed"),
    ("fig.wishes_fulfilled", "Wishes fulfilled"),
    ("col.org", "Org unit"),
    ("col.org_id", "Org id"),
    ("col.group", "Group"),
    ("col.in_scope", "Members"),
    ("col.reached", "Reached"),
    ("col.reached_rate", "Reached %"),
    ("col.compliant", "Compliant"),
    ("col.compliant_rate", "Compliant %"),
    ("col.unreached", "Not reached"),
    ("col.noncompliant", "Short of hours"),
    ("col.member_id", "Member id"),
    ("col.name", "Name"),
    ("col.groups", "Groups"),
    ("col.credited_hours", "Credited hours"),
    ("col.required_hours", "Required hours"),
    ("col.lectures", "Lectures"),
    ("col.study_hours", "Hours"),
    ("col.unique_attendees", "Attendees"),
    ("col.roles", "Roles"),
    ("col.last_visit", "Last visit"),
    ("col.days_since", "Days since"),
    ("col.overdue", "Overdue"),
    ("col.since", "Away since"),
    ("col.destination", "Destination"),
    ("col.buddy", "Buddy"),
    ("col.last_contact", "Last contact"),
    ("col.class_id", "Class id"),
    ("col.title", "Title"),
    ("col.form", "Form"),
    ("col.organizer", "Organiser"),
    ("col.venue", "Venue"),
    ("col.occurred_at", "When"),
    ("col.attendees", "Attendees"),
    ("col.voided", "Voided"),
    ("col.kind", "Kind"),
    ("col.record", "Record"),
    ("col.credited", "Credited"),
    ("col.event", "Event"),
    ("col.void_reason", "Void reason"),
    ("col.open", "Open"),
    ("col.claimed", "Claimed"),
    ("col.fulfilled", "Fulfilled"),
    ("col.withdrawn", "Withdrawn"),
    ("col.claimed_in_year", "Claimed this year"),
    ("col.fulfilled_in_year", "Fulfilled this year"),
    ("col.category", "Category"),
    ("col.grid", "Grid"),
    ("col.position", "Position"),
    ("col.recorded_at", "Recorded at"),
    ("col.stream", "Stream"),
    ("col.type", "Event type"),
    ("col.actor", "Recorded by"),
    ("col.version", "Version"),
    ("col.projection", "Projection"),
    ("col.generation", "Generation"),
    ("col.checkpoint", "Checkpoint"),
    ("col.lag_events", "Lag (events)"),
    ("col.lag_seconds", "Lag (seconds)"),
    ("col.updated_at", "Updated at"),
    ("col.rebuild", "Rebuild"),
    ("col.year", "Year"),
    ("col.live", "Live rules"),
    ("col.other", "Other rules"),
    ("col.changed", "Changed"),
    ("col.speaker", "Speaker"),
    ("col.data", "Data"),
    ("col.metadata", "Metadata"),
    ("col.event_id", "Event id"),
    ("col.value", "Value"),
    ("yes", "yes"),
    ("no", "no"),
    ("overdue", "overdue"),
    ("never", "never"),
    ("changed", "changed"),
    (
        "note.coverage",
        "Reached: credited study at least once this year; compliant: the hours and concentrated classes required. Every figure opens the members behind it.",
    ),
    (
        "note.coverage_links",
        "The Reached and Compliant figures open the other members (not reached, short of hours).",
    ),
    (
        "note.frail",
        "Marked overdue when not visited within the rule set's number of days.",
    ),
    (
        "note.mobile",
        "Marked overdue when not contacted within the rule set's number of days.",
    ),
    (
        "note.whatif",
        "Coverage and compliance under the live rule set and another one, on the same basis; changed cells are marked.",
    ),
    ("note.whatif_changed", "Changed cells"),
    ("note.only_changed", "Only changed rows"),
    ("note.show_all", "All rows"),
    (
        "note.log_scope",
        "The audit log is open to auditors and admins with a whole-subdistrict token.",
    ),
    ("note.record_api", "This record in the audit API"),
    (
        "note.missing_lecture",
        "Leaders who have given no party lecture this year",
    ),
    ("note.wish_by_category", "By category"),
    ("note.wish_by_grid", "By grid"),
    ("note.wish_totals", "Totals"),
    ("note.years", "Hours per year"),
    ("note.entries", "Records"),
    ("note.rebuild_none", "none"),
    ("note.chart", "Reached and compliant shares per org unit"),
    ("note.children", "Units below"),
    ("note.up", "Up one level"),
    ("note.by_group", "By group"),
    ("note.print", "Print"),
    ("note.page_of", "Page {p}"),
    ("note.tabulator", "Prepared by"),
    ("note.reviewer", "Reviewed by"),
    ("filter.type", "Event type"),
    ("filter.stream", "Stream"),
    ("filter.from", "From date"),
    ("filter.after", "After position"),
    ("filter.any", "any"),
    ("filter.form", "Form"),
    ("filter.other", "Other rule set"),
    ("error.403", "This token may not see this page."),
    ("error.404", "Not found."),
    ("error.400", "A parameter of the request is wrong."),
    (
        "error.503",
        "The statistics have not reached the log position asked for yet; try again shortly.",
    ),
    ("error.500", "Server error; the server log has the cause."),
    ("group.all", "All members"),
    ("group.committee", "Committee members"),
    ("group.grid_secretary", "Grid branch secretaries"),
    ("group.frail", "Frail members"),
    ("group.mobile", "Mobile members"),
    ("group.ordinary", "Ordinary members"),
    ("form.concentrated", "Concentrated class"),
    ("form.seminar", "Seminar"),
    ("form.online", "Online"),
    ("form.field_trip", "Field trip"),
    ("form.forum", "Forum"),
    ("form.competition", "Competition"),
    ("form.night_school", "Night school"),
    ("kind.class", "Class"),
    ("kind.party_lecture", "Party lecture"),
    ("kind.home_visit", "Home study visit"),
    ("kind.online_study", "Online study"),
    ("kind.org_life_meeting", "Org life meeting"),
    ("role.subdistrict_leader", "Subdistrict leader"),
    ("role.community_secretary", "Community secretary"),
    ("role.committee_member", "Committee member"),
    ("role.grid_secretary", "Grid branch secretary"),
    ("role.branch_secretary", "Branch secretary"),
    ("role.party_group_leader", "Party group leader"),
    ("token.recorder", "Recorder"),
    ("token.viewer", "Viewer"),
    ("token.auditor", "Auditor"),
    ("token.admin", "Admin"),
    ("orgkind.subdistrict", "Subdistrict"),
    ("orgkind.community", "Community"),
    ("orgkind.grid_branch", "Grid branch"),
    ("orgkind.party_group", "Party group"),
    ("category.grid_patrol", "Grid patrol"),
    ("category.merchant_visit", "Merchant visit"),
    ("category.dispute_mediation", "Dispute mediation"),
    ("category.volunteer_service", "Volunteer service"),
    ("category.other", "Other"),
    ("purpose.home_study_delivery", "Study delivered at home"),
    ("purpose.books_delivered", "Books delivered"),
    ("purpose.care_visit", "Care visit"),
    ("purpose.political_birthday", "Political birthday"),
    ("nav.record", "Record"),
    ("page.record", "Record"),
    ("page.recorded", "Recorded"),
    ("page.upload", "Upload a spreadsheet"),
    ("form_title.class", "A class held"),
    ("form_title.lecture", "A party lecture"),
    ("form_title.visit", "A home visit"),
    ("form_title.wish-claim", "A micro-wish claimed"),
    ("form_title.wish-fulfil", "A micro-wish fulfilled"),
    ("form_title.online", "Online study"),
    ("form_title.contact", "A mobile member contacted"),
    ("form_title.void", "Void this record"),
    ("form_title.amend", "Amend the attendance"),
    ("field.class_id", "Class id"),
    ("field.title", "Title"),
    ("field.form", "Form"),
    ("field.venue_id", "Venue id"),
    ("field.organizer_org_id", "Organiser"),
    ("field.starts_at", "Starts at"),
    ("field.duration_minutes", "Duration (minutes)"),
    ("field.study_hours", "Study hours"),
    ("field.lecturer_ids", "Lecturer ids"),
    ("field.attendee_ids", "Attendees"),
    ("field.lecture_id", "Lecture id"),
    ("field.speaker_id", "Speaker"),
    ("field.audience_org_id", "Audience"),
    ("field.given_at", "Given at"),
    ("field.visit_id", "Visit id"),
    ("field.member_id", "Member"),
    ("field.visitor_ids", "Visitors"),
    ("field.visited_on", "Visited on"),
    ("field.purposes", "Purposes"),
    ("field.note", "Note"),
    ("field.wish_id", "Wish id"),
    ("field.claimed_on", "Claimed on"),
    ("field.fulfilled_on", "Fulfilled on"),
    ("field.log_id", "Log id"),
    ("field.platform", "Platform"),
    ("field.studied_on", "Studied on"),
    ("field.contact_id", "Contact id"),
    ("field.contacted_by", "Contacted by"),
    ("field.contacted_on", "Contacted on"),
    ("field.channel", "Channel"),
    ("field.event_id", "Event id"),
    ("field.reason", "Reason"),
    ("field.added", "Add attendees"),
    ("field.removed", "Remove attendees"),
    ("platform.xuexi_qiangguo", "Xuexi Qiangguo"),
    ("platform.lighthouse_classroom", "Lighthouse Classroom"),
    (
        "platform.shandong_online_academy",
        "Shandong online party academy",
    ),
    ("platform.other", "Other platform"),
    ("channel.phone", "Phone"),
    ("channel.video", "Video"),
    ("channel.message", "Message"),
    ("channel.in_person", "In person"),
    (
        "rec.members_hint",
        "One a line, or separated by commas; member ids or names",
    ),
    ("rec.member_hint", "A member id or name"),
    ("rec.ids_hint", "Ids separated by commas"),
    ("rec.required", "Required"),
    ("rec.duplicate", "“{name}” ({id}) is listed twice"),
    (
        "rec.unknown_member",
        "No member has the id or name “{name}”",
    ),
    (
        "rec.ambiguous_member",
        "“{name}” is the name of several members ({ids}): enter the member id",
    ),
    ("rec.out_of_scope", "Outside this token's org scope"),
    (
        "rec.scope_org",
        "org unit {org} is not within this token's scope {root}",
    ),
    (
        "rec.scope_member",
        "{member} belongs to {org}, which is not within this token's scope {root}",
    ),
    ("rec.refused", "Refused"),
    (
        "rec.nothing_stored",
        "Nothing was stored: correct the fields marked and submit again.",
    ),
    (
        "rec.stored",
        "Stored. The record, and the statistics that include it:",
    ),
    ("rec.another", "Record another"),
    ("rec.submit", "Submit"),
    ("upload.template", "Template"),
    ("upload.problems", "Problems (row, column)"),
    ("upload.no_file", "Choose a file to upload."),
    (
        "upload.bad_format",
        "Upload an .xlsx or .csv file (CSV in UTF-8 or GB18030).",
    ),
    ("upload.preview", "Preview: the records it will store"),
    (
        "upload.clean",
        "The file is clean. Confirm to store it whole; nothing is stored before.",
    ),
    (
        "upload.stored",
        "Stored {n} records (any already stored are not stored again).",
    ),
    ("upload.kind", "Kind of sheet"),
    ("upload.file", "File"),
    ("upload.submit", "Upload and preview"),
    ("upload.confirm", "Confirm and store"),
    ("sheet.class-register", "Class register"),
    ("sheet.online-hours", "Online study hours"),
    ("col.row", "Row"),
    ("col.column", "Column"),
    ("col.problem", "Problem"),
    ("form_title.wish-release", "A micro-wish released"),
    ("form_title.meeting", "An organisational-life meeting"),
    ("form_title.enrol", "A member enrolled"),
    ("form_title.transfer", "A member transferred"),
    ("form_title.leave", "A member left"),
    ("form_title.reenrol", "A member re-enrolled"),
    ("form_title.mobile", "A member went mobile"),
    ("form_title.return", "A mobile member returned"),
    ("field.released_on", "Released on"),
    ("field.meeting_id", "Meeting id"),
    ("field.branch_id", "Branch"),
    ("field.kind", "Kind"),
    ("field.held_on", "Held on"),
    ("field.excused_ids", "Excused"),
    ("field.name", "Name"),
    ("field.membership", "Membership"),
    ("field.joined_on", "Joined the party on"),
    ("field.enrolled_on", "Enrolled on"),
    ("field.employment", "Employment"),
    ("field.frail", "Frail"),
    ("field.hardship", "Hardship"),
    ("field.birth_year", "Birth year"),
    ("field.to_branch_id", "To branch"),
    ("field.on", "On"),
    ("field.since", "Since"),
    ("field.destination", "Destination"),
    ("meeting.branch_general_meeting", "Branch general meeting"),
    (
        "meeting.branch_committee_meeting",
        "Branch committee meeting",
    ),
    ("meeting.party_group_meeting", "Party group meeting"),
    ("meeting.themed_party_day", "Themed party day"),
    ("meeting.org_life_meeting", "Organisational-life meeting"),
    ("membership.full", "Full member"),
    ("membership.probationary", "Probationary member"),
    ("employment.in_service", "In service"),
    ("employment.retired", "Retired"),
    ("employment.other", "Other"),
    ("leave.transferred_out", "Transferred out"),
    ("leave.deceased", "Deceased"),
    ("leave.other", "Other"),
    ("mobile.work", "Work"),
    ("mobile.business", "Business"),
    ("mobile.study", "Study"),
    ("mobile.other", "Other"),
    ("form_title.wish-post", "A micro-wish posted"),
    ("form_title.wish-withdraw", "A micro-wish withdrawn"),
    ("form_title.full", "A probationary member became full"),
    ("form_title.care", "Frail or hardship changed"),
    ("form_title.buddy", "A buddy for a mobile member"),
    ("form_title.role-assign", "A role assigned"),
    ("form_title.role-end", "A role ended"),
    ("field.grid_id", "Grid"),
    ("field.category", "Category"),
    ("field.posted_on", "Posted on"),
    ("field.withdrawn_on", "Withdrawn on"),
    ("field.buddy_id", "Buddy"),
    ("field.role", "Role"),
    ("field.org_id", "Org unit"),
    (
        "rec.key_used",
        "This form was stored already and has since been changed. To store it as a new record, check it and submit again; otherwise open a new form.",
    ),
    ("rec.pick_branch", "Pick by branch"),
    ("rec.add_branch", "Add the branch's members"),
    ("rec.search_member", "Find a member (name or id)"),
    ("rec.search", "Find"),
    (
        "rec.matches",
        "Members matching “{q}”: tick them and press “Add the ticked members”, or submit",
    ),
    (
        "rec.no_match",
        "No enrolled member within this token's scope has a name or id containing “{q}”.",
    ),
    (
        "rec.more_matches",
        "Only the first 50 are listed; type more to narrow the search.",
    ),
    ("rec.add_ticked", "Add the ticked members"),
    (
        "rec.searched",
        "Members found for what you typed in the search; nothing was stored. Check, then press Submit.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn keys(table: &[(&'static str, &'static str)]) -> BTreeSet<&'static str> {
        let set: BTreeSet<_> = table.iter().map(|(k, _)| *k).collect();
        assert_eq!(set.len(), table.len(), "a key appears twice");
        set
    }

    #[test]
    fn both_tables_have_the_same_keys_and_no_empty_label() {
        assert_eq!(keys(ZH), keys(EN));
        for (key, value) in ZH.iter().chain(EN) {
            assert!(!value.trim().is_empty(), "{key} is empty");
        }
    }

    #[test]
    fn every_enum_value_has_a_label() {
        use partyedu_domain::kinds::{ClassForm, OrgKind, Role, VisitPurpose, WishCategory};
        for lang in [Lang::Zh, Lang::En] {
            let has = |key: String| lang.table().iter().any(|(k, _)| *k == key);
            for g in partyedu_projections::query::GROUPS {
                assert!(has(format!("group.{g}")));
            }
            for f in ClassForm::ALL {
                assert!(has(format!("form.{}", f.as_str())));
            }
            for r in Role::ALL {
                assert!(has(format!("role.{}", r.as_str())));
            }
            for k in OrgKind::ALL {
                assert!(has(format!("orgkind.{}", k.as_str())));
            }
            for c in WishCategory::ALL {
                assert!(has(format!("category.{}", c.as_str())));
            }
            for p in VisitPurpose::ALL {
                assert!(has(format!("purpose.{}", p.as_str())));
            }
            for r in crate::auth::Role::ALL {
                assert!(has(format!("token.{}", r.as_str())));
            }
        }
    }

    /// The `{name}`s of a wording.
    fn placeholders(template: &str) -> BTreeSet<String> {
        let seen = std::cell::RefCell::new(BTreeSet::new());
        fill(template, |name| {
            seen.borrow_mut().insert(name.to_owned());
            None
        });
        seen.into_inner()
    }

    #[test]
    fn every_reason_code_is_worded_in_chinese_with_only_its_own_values() {
        let zh: BTreeSet<&str> = keys(ZH_REASONS).into_iter().collect();
        let codes: BTreeSet<&str> = partyedu_domain::REASONS.iter().map(|(c, _)| *c).collect();
        assert_eq!(zh, codes);
        for (code, english) in partyedu_domain::REASONS {
            let (_, chinese) = ZH_REASONS.iter().find(|(c, _)| c == code).unwrap();
            let extra: Vec<String> = placeholders(chinese)
                .difference(&placeholders(english))
                .cloned()
                .collect();
            assert!(extra.is_empty(), "{code}: {chinese} names {extra:?}");
        }
        let reason = Reason::new("future_date")
            .arg("date", "2099-01-02")
            .arg("limit", "2024-06-16");
        assert_eq!(
            Lang::Zh.reason(&reason),
            "2099年1月2日晚于明天（2024年6月16日），不能登记将来的事"
        );
        assert_eq!(Lang::En.reason(&reason), reason.english());
        let reason = Reason::new("not_a_branch")
            .arg("id", "CB")
            .arg("orgkind", "community");
        assert_eq!(
            Lang::Zh.reason(&reason),
            "CB 是社区；党员只能编入网格党支部或党小组"
        );
        let reason = Reason::new("in_both_lists")
            .arg("id", "M1")
            .arg("field", "attendee_ids");
        assert_eq!(Lang::Zh.reason(&reason), "党员 M1 已列在“参加人员”中");
    }

    #[test]
    fn numbers_and_dates_per_language() {
        assert_eq!(Lang::Zh.int(4000), "4,000");
        assert_eq!(Lang::En.int(1234567), "1,234,567");
        assert_eq!(Lang::En.int(-12), "-12");
        assert_eq!(Lang::Zh.rate(Some(0.9623)), "96.2%");
        assert_eq!(Lang::Zh.hours(2.5), "2.5");
        assert_eq!(Lang::Zh.hours(32.0), "32");
        let day = NaiveDate::from_ymd_opt(2024, 3, 5).unwrap();
        assert_eq!(Lang::Zh.date(day), "2024年3月5日");
        assert_eq!(Lang::En.date(day), "5 Mar 2024");
    }
}

"""Chinese texts of the page, keyed by their English text (``genemail.app_ui.i18n.t``).

A text missing here shows in English; ``tests/test_app_i18n.py`` checks that every text the page
registers has its translation, with the same ``{placeholders}``.
"""

ZH: dict[str, str] = {
    # page and tabs
    "# GenEmail\nSegment customers first, then write each segment's email in its own voice.":
        "# GenEmail\n先为客户分群，再用每个客群自己的语气写邮件。",
    "Compose": "撰写", "Rate": "评分", "Label": "标注", "Segments": "客群", "Campaign": "营销活动",
    "Results": "实验结果", "Models": "模型版本", "Advanced": "高级",
    "Check the input": "请检查输入", "Check the file": "请检查文件",
    # banner
    "Release **{rev}**{mutable} · loaded {at}": "版本 **{rev}**{mutable} · 加载于 {at}",
    " (a branch: it can change)": "（分支：内容可能变化）",
    "## No release is loaded": "## 尚未加载版本",
    "**What failed:** {reason}": "**失败原因：** {reason}",
    "**What to do:** ask whoever runs the app to publish a release, or load one in the Models tab.":
        "**怎么办：** 请负责运行本应用的同事发布一个版本，或在“模型版本”页加载一个。",
    "The Compose, Rate, Segments and Campaign tabs need a release.": "“撰写”“评分”“客群”和“营销活动”页需要一个已加载的版本。",
    "not loaded yet": "尚未加载",
    # compose
    "Pick a customer (type an ID, a segment or an age to search), or describe a new one below. The segment and "
    "strategy show at once; **Write emails** writes the segmented email beside the one-size-fits-all baseline.":
        "选择一位客户（可输入编号、客群或年龄搜索），或在下方描述一位新客户。客群和策略会立即显示；"
        "**写邮件**会并排写出分群邮件和统一基线邮件。",
    "Customer": "客户", "{n} customers; any customer ID of the table can be typed": "共 {n} 位客户；可输入表中任意客户编号",
    "{age} years": "{age} 岁", "income {income}": "收入 {income}",
    "Write emails": "写邮件", "Write another version": "再写一版",
    "New customer": "新客户", "Age": "年龄", "Gender": "性别", "Education": "学历", "Marital status": "婚姻状况",
    "Yearly income": "年收入", "Children": "子女", "Family size": "家庭人数", "Days since last purchase": "距上次购买天数",
    "not known": "未知", "Not known": "未知", "Female": "女", "Male": "男", "No children": "无子女",
    "Young children": "幼儿", "Teenagers": "青少年", "Young children and teenagers": "幼儿和青少年",
    "Segment and write for this new customer": "为这位新客户分群并写邮件",
    "Segmented email": "分群邮件", "Baseline email (one model for everyone)": "基线邮件（所有人同一模型）",
    "Email length": "邮件长度", "how long the email may be, in tokens (8 to 512)": "邮件最长多少个词元（8 到 512）",
    "Variety": "多样性", "0 = the same email every time; up to 2 = more varied (temperature)":
        "0 = 每次相同；最高 2 = 更多变化（温度）",
    "Seed": "随机种子", "another seed, another version of a varied email": "换一个种子，就得到另一版邮件",
    "With user embedding": "使用用户向量",
    "the customer's behaviour as extra input beside the segment's adapter (needs a release with a user vector)":
        "把客户行为作为客群适配器之外的额外输入（需要带用户向量的版本）",
    "Details (JSON)": "详细数据（JSON）",
    "the form is empty": "表单是空的", "fill in at least age, yearly income or days since last purchase":
        "请至少填写年龄、年收入或距上次购买天数",
    "### Customer {id}": "### 客户 {id}",
    "**Segment:** {segment} ({p} sure) · **Value tier:** {tier} ({q} sure)":
        "**客群：** {segment}（把握 {p}） · **价值层级：** {tier}（把握 {q}）",
    "New customer: {reason}. The default strategy is used.": "新客户：{reason}。使用默认策略。",
    "**Why this segment:**": "**分到这个客群的原因：**", "(no reasons available)": "（暂无原因）",
    "### Strategy: {name}": "### 策略：{name}", "Tone": "语气", "Greeting": "问候语", "Focus": "重点",
    "Call to action": "行动号召",
    "(strategy texts in {page}; the emails are written in {email})": "（策略文字为{page}；邮件用{email}撰写）",
    "English": "英文", "Chinese": "中文",
    "Written in {s} s.": "用时 {s} 秒。",
    "✅ Quality check passed on the first draft.": "✅ 第一稿即通过质量检查。",
    "✅ Quality check passed on draft {n} (earlier drafts failed: {checks}).":
        "✅ 第 {n} 稿通过质量检查（之前的稿件未通过：{checks}）。",
    "⚠️ All {n} drafts failed the quality check ({checks}), so the strategy's template email is shown, with the "
    "customer's facts filled in.": "⚠️ {n} 稿均未通过质量检查（{checks}），因此显示策略的模板邮件，并填入客户的真实信息。",
    "Noted, not enforced for this email: {checks}.": "已记录、但本邮件不强制：{checks}。",
    "merge tags": "合并标签", "structure": "结构", "fluency": "通顺度", "facts": "事实", "segment fit": "客群契合度",
    "language": "语言",
    "- Segmented email: {n} new tokens, adapter `{ref}`": "- 分群邮件：{n} 个新词元，适配器 `{ref}`",
    "- Baseline email: {n} new tokens, adapter `baseline`": "- 基线邮件：{n} 个新词元，适配器 `baseline`",
    "- With the user embedding (+{ms} ms to encode)": "- 使用用户向量（编码额外 {ms} 毫秒）",
    # campaign
    "Upload a customer file (CSV, TSV or Parquet, at most {mb} MB) **or** leave it empty and choose the first N "
    "demo customers (at most {limit}). Customers of every segment share batches; each batch routes its rows "
    "through their own segment's model.":
        "上传客户文件（CSV、TSV 或 Parquet，最大 {mb} MB），**或**留空并选择前 N 位演示客户（最多 {limit} 位）。"
        "各客群的客户共用批次，每一行都交给它所属客群的模型。",
    "Customer file": "客户文件", "Number of demo customers": "演示客户数",
    "used when no file is uploaded; 1 to {limit}": "未上传文件时使用；1 到 {limit}",
    "Run campaign": "运行营销活动", "Run as an experiment": "作为实验运行",
    "Give the experiment a name to split the customers into three arms: the segmented email, the one-size-fits-all "
    "email (control) and no email (holdout). The same name and seed always give every customer the same arm.":
        "给实验起个名字，客户就会被分成三组：分群邮件、统一邮件（对照组）和不发邮件（留存组）。"
        "同样的名字和种子总是把每位客户分到同一组。",
    "Experiment name": "实验名称", "e.g. spring-2026": "例如 spring-2026", "empty: a plain campaign, no arms":
        "留空：普通营销活动，不分组",
    "Control share (%)": "对照组比例（%）", "Holdout share (%)": "留存组比例（%）", "Assignment seed": "分组种子",
    "how long each email may be, in tokens (8 to 512)": "每封邮件最长多少个词元（8 到 512）",
    "Customers per segment": "各客群客户数", "Download JSONL": "下载 JSONL", "Download CSV": "下载 CSV",
    "First rows": "前几行",
    "✅ The file is readable; **Run campaign** uses it.": "✅ 文件可以读取；**运行营销活动**将使用它。",
    "Wrote **{n}** emails in {s} s ({rate} emails/s).": "{s} 秒内写了 **{n}** 封邮件（每秒 {rate} 封）。",
    "Quality check, {kind} emails: {first} of {n} passed on the first draft, {later} on a later draft, {fallback} "
    "got the strategy's template email.":
        "质量检查，{kind}邮件：{n} 封中 {first} 封第一稿通过，{later} 封后续稿通过，{fallback} 封使用策略模板邮件。",
    "segmented": "分群", "baseline": "基线",
    "Cleaning report: {report}": "清洗报告：{report}", "{done}/{total} emails": "{done}/{total} 封邮件",
    "segmenting": "正在分群",
    "{n} got the {arm}": "{n} 位收到{arm}",
    "Experiment **{name}**: {parts}. Download the JSONL file: it is the send log the Results tab ingests with your "
    "email platform's events.": "实验 **{name}**：{parts}。请下载 JSONL 文件：它就是“实验结果”页与邮件平台事件一起导入的发送日志。",
    "segmented email": "分群邮件", "one-size-fits-all email": "统一邮件", "no email (holdout)": "不发邮件（留存组）",
    "customer": "客户", "segment": "客群", "check": "检查", "baseline email": "基线邮件", "baseline check": "基线检查",
    "arm": "组", "customers": "客户数",
    # rate
    "Read the **target style**, then both emails (which one is segmented is hidden and random). Say which fits the "
    "target style better and score each from 1 (not at all) to 5 (exactly).":
        "先阅读**目标风格**，再读两封邮件（哪封是分群邮件是隐藏且随机的）。选出更符合目标风格的一封，"
        "并为每封打分，1（完全不符）到 5（完全符合）。",
    "> Ratings are kept on this server only; they are not copied to the Hub.": "> 评分只保存在本服务器，不会复制到 Hub。",
    "Your name": "你的名字", "used when not signed in": "未登录时使用", "Customer (empty = random)": "客户（留空 = 随机）",
    "New pair": "换一组", "Email A": "邮件 A", "Email B": "邮件 B", "Which fits better?": "哪封更符合？",
    "A fits the target style better": "A 更符合目标风格", "B fits the target style better": "B 更符合目标风格",
    "Tie": "不相上下", "Both poor": "都不好",
    "Style match of A (1-5)": "A 的风格契合度（1-5）", "Style match of B (1-5)": "B 的风格契合度（1-5）",
    "Comment (optional)": "备注（可选）", "Submit rating": "提交评分", "Statistics": "统计",
    "Style match and preference per segment, with 95% intervals": "各客群的风格契合与偏好（含 95% 区间）",
    "Refresh statistics": "刷新统计",
    "Target style for customer {id} ({segment}):": "客户 {id}（{segment}）的目标风格：",
    "Saved as rating #{n} by {who}. Press **New pair** for the next one.": "已保存为第 {n} 条评分（{who}）。按**换一组**继续。",
    "No ratings yet.": "还没有评分。",
    "**{n}** ratings by **{raters}** raters on **{customers}** customers.":
        "**{raters}** 位评分者对 **{customers}** 位客户做了 **{n}** 条评分。",
    "Raters preferred the segmented email in **{p}%** of {n} ratings that picked a side (95% interval {lo}-{hi}%; "
    "sign test p = {pv}).": "在 {n} 条分出高下的评分中，**{p}%** 更偏好分群邮件（95% 区间 {lo}-{hi}%；符号检验 p = {pv}）。",
    "Agreement between raters (Krippendorff's alpha, 1 = full agreement): {a}.":
        "评分者之间的一致性（Krippendorff's alpha，1 = 完全一致）：{a}。",
    "Agreement between raters: not measurable yet (it needs customers rated by two people).":
        "评分者之间的一致性：暂时无法计算（需要有客户被两个人评过）。",
    "fits the style (score 4 or 5)": "符合风格（4 或 5 分）", "segmented email preferred": "更偏好分群邮件",
    "measure": "指标", "email": "邮件", "ratings": "评分数", "share %": "占比 %", "95% interval": "95% 区间",
    "All segments": "全部客群",
    "is empty": "为空", "type your name (or sign in) before submitting": "提交前请输入你的名字（或登录）",
    "nothing picked": "没有选择", "pick A, B, tie or both poor": "请选择 A、B、不相上下或都不好",
    "no pair to rate": "没有可评分的邮件", "press New pair first": "请先按“换一组”",
    # label
    "Label customers for the test set the segmenter is checked against. You see the customer's profile, never the "
    "model's answer: pick the value tier and the segment, or *unsure*. Customers are chosen to cover every segment and "
    "the cases the model finds hardest; every fifth one was labelled by someone else, so agreement between labelers "
    "can be measured.":
        "为检验分群模型的测试集标注客户。你只会看到客户资料，看不到模型的答案：请选择价值层级和客群，或选*不确定*。"
        "挑选的客户会覆盖每个客群以及模型最难判断的情况；每五位中有一位已被别人标注过，以便衡量标注者之间的一致性。",
    "Customer ID (optional)": "客户编号（可选）", "e.g. ann": "例如 ann", "empty: the next one to label": "留空：下一位待标注客户",
    "Next customer": "下一位客户", "Profile": "客户资料", "Value tier": "价值层级", "Segment": "客群",
    "Note (optional)": "备注（可选）", "Save label": "保存标注", "Unsure": "不确定",
    "Saved as label #{n}. Press **Next customer** for the next one.": "已保存为第 {n} 条标注。按**下一位客户**继续。",
    "pick the value tier and the segment (or unsure) before saving": "保存前请选择价值层级和客群（或不确定）",
    "No labels yet.": "还没有标注。",
    "**{n}** labels by **{raters}** labeler(s) on **{customers}** customers ({per}).":
        "**{raters}** 位标注者对 **{customers}** 位客户做了 **{n}** 条标注（{per}）。",
    "Agreement between {who} on {n} shared customers (Cohen's kappa, 1 = full agreement): {k}.":
        "{who} 在 {n} 位共同客户上的一致性（Cohen's kappa，1 = 完全一致）：{k}。",
    "Agreement across all labelers (Krippendorff's alpha): {a}.": "全体标注者的一致性（Krippendorff's alpha）：{a}。",
    "These labels are the held-out test set the segmenter is checked against when it is next trained.":
        "这些标注是分群模型下次训练时用来检验的独立测试集。",
    "what": "项目", "value": "值", "Children at home": "家中子女数", "Children's ages": "子女年龄段",
    "Days as a customer": "成为客户的天数", "Spent in total": "累计消费", "Purchases": "购买次数",
    "Purchases per month": "每月购买次数", "Favourite category": "最常购买品类", "Website visits last month": "上月网站访问次数",
    "Earlier offers accepted": "接受过的优惠次数", "no children": "无子女", "young children": "幼儿", "teenagers": "青少年",
    "young children and teenagers": "幼儿和青少年",
    # segments
    "How the release in use divides the demo customers into segments, and how well separated the segments are.":
        "当前版本如何把演示客户分成客群，以及客群之间区分得是否清楚。",
    "Show segments": "显示客群", "Segment sizes (demo customers)": "客群规模（演示客户）",
    "Customers on a map of their features, coloured by segment": "按特征绘制的客户分布图（按客群着色）",
    "Segment sizes at training time": "训练时的客群规模", "Clustering view": "聚类视图", "Clustering numbers": "聚类数据",
    "Clustering plot": "聚类图", "Average customer per value tier and segment": "各价值层级和客群的平均客户",
    "This release has no cluster analysis.": "该版本没有聚类分析。",
    "**{n}** customers were analysed at training time. The segments are **{words}** in the customer features "
    "(silhouette {s}, on a scale from -1 to 1; above 0.5 would be clearly separated). Segments follow business rules "
    "on recency and value, so some overlap is expected.":
        "训练时分析了 **{n}** 位客户。各客群在客户特征上**{words}**（轮廓系数 {s}，范围 -1 到 1；高于 0.5 才算区分清楚）。"
        "客群依据最近购买和价值的业务规则划分，因此有一定重叠是正常的。",
    "KMeans, which looks for natural groups, finds the clearest grouping with **{k}** clusters (silhouette {s}: "
    "{words}).": "KMeans 寻找自然分组，分成 **{k}** 组时最清楚（轮廓系数 {s}：{words}）。",
    "HDBSCAN, which finds its own number of groups and leaves out customers who fit none, finds **{n}** groups and "
    "leaves out **{noise}** of the customers (silhouette of the grouped customers {s}: {words}).":
        "HDBSCAN 自行决定分组数，并排除不属于任何组的客户：它找到 **{n}** 组，排除了 **{noise}** 的客户"
        "（已分组客户的轮廓系数 {s}：{words}）。",
    "clearly separated": "区分清楚", "fairly separated": "区分尚可", "overlapping": "有所重叠",
    "strongly overlapping": "高度重叠", "not measured": "未测量",
    "clusters": "分组数", "silhouette (higher is better)": "轮廓系数（越高越好）",
    "Davies-Bouldin (lower is better)": "Davies-Bouldin 指数（越低越好）", "groups found": "找到的分组",
    "customers in no group": "未归组的客户", "silhouette of the grouped customers": "已分组客户的轮廓系数",
    "smallest group allowed": "允许的最小分组", "customers in group {g}": "第 {g} 组客户数",
    "value tier": "价值层级", "level": "层级", "yearly income": "年收入", "spend per year": "年消费",
    "recent spend rate": "近期消费速度", "purchases": "购买次数", "days since last purchase": "距上次购买天数",
    "activity (0-1)": "活跃度（0-1）", "children": "子女数", "activity": "活跃度", "purchases per month": "每月购买次数",
    "days as a customer": "成为客户的天数", "spent in total": "累计消费", "age": "年龄", "family size": "家庭人数",
    "website visits": "网站访问", "feature": "特征", "before": "之前",
    "Drift: compare two snapshots of the customer table": "漂移：比较客户表的两个快照",
    "Segments both snapshots with the release in use. Leave *before* empty to use the demo customers.":
        "用当前版本为两个快照分群。*之前*留空则使用演示客户。",
    "Before (CSV/Parquet; empty: demo customers)": "之前（CSV/Parquet；留空：演示客户）", "After (CSV/Parquet)": "之后（CSV/Parquet）",
    "Compare snapshots": "比较快照",
    "Segment migration: customers (rows = before, columns = after)": "客群迁移：客户数（行 = 之前，列 = 之后）",
    "Segment migration: share of each segment's customers before": "客群迁移：占之前各客群客户的比例",
    "Change per feature (population stability index; above 0.25: drifted)": "各特征的变化（群体稳定性指数；高于 0.25：已漂移）",
    "(new customer)": "（新客户）", "(gone)": "（已流失）", "unknown": "未知", "{d} days": "{d} 天",
    "{n} customers are in both snapshots, {moved} of them changed segment; the segment mix moved by {psi} (population "
    "stability index; above 0.25 is a real shift); the segmenter is {age} old.":
        "两个快照中共有 {n} 位客户，其中 {moved} 换了客群；客群构成变化 {psi}（群体稳定性指数；高于 0.25 为明显变化）；"
        "分群模型已有 {age}。",
    "**Too few customers in both snapshots to judge** ({n}; at least {min} are needed). Compare two snapshots of the "
    "same customer table, taken at different times.":
        "**两个快照共有的客户太少，无法判断**（{n} 位；至少需要 {min} 位）。请比较同一客户表在不同时间的两个快照。",
    "**Retrain recommended.**": "**建议重新训练。**", "**No retraining needed.**": "**无需重新训练。**",
    # results
    "Each campaign run as an experiment (Campaign tab, *Run as an experiment*) splits its customers into the "
    "segmented email, the one-size-fits-all email (control) and no email (holdout). Upload its send log and the "
    "events your email platform exported to ingest them (a second upload of the same file adds nothing), then pick "
    "the experiment. Clicks are the default measure: opens are inflated by mail privacy proxies.":
        "作为实验运行的营销活动（“营销活动”页，*作为实验运行*）会把客户分成分群邮件、统一邮件（对照组）和不发邮件（留存组）。"
        "上传它的发送日志和邮件平台导出的事件即可导入（同一文件再次上传不会重复计入），然后选择实验。"
        "默认指标是点击：打开数会被邮件隐私代理夸大。",
    "Experiment": "实验", "Measure": "指标", "Show results": "显示结果", "Per segment and arm": "按客群和组",
    "Rates with 95% intervals": "比率及 95% 区间", "Cumulative rate over time": "随时间的累计比率",
    "Statistics per segment": "各客群统计", "Ingest outcome events": "导入结果事件",
    "File types: {types}; at most {mb} MB each.": "文件类型：{types}；每个最大 {mb} MB。",
    "Campaign send log": "营销活动发送日志", "Events file (platform export)": "事件文件（平台导出）", "Ingest": "导入",
    "Clicks": "点击", "Opens": "打开", "Conversions": "转化", "Unsubscribes": "退订", "Bounces": "退信", "Deliveries": "送达",
    "clicks": "点击率", "opens": "打开率", "conversions": "转化率", "unsubscribes": "退订率", "bounces": "退信率",
    "deliveries": "送达率", "no email": "不发邮件",
    "the segmented email wins": "分群邮件胜出", "the segmented email loses": "分群邮件落后",
    "no clear difference yet": "暂无明显差异", "too few customers yet to decide": "客户太少，尚无法判断",
    "no decision: the arms' sizes do not match the plan (check the send log and the export)":
        "不作判断：各组人数与计划不符（请检查发送日志和导出文件）",
    "no decision: unsubscribes or complaints went up": "不作判断：退订或投诉上升",
    "recipients": "收件人数", "events": "事件数", "rate %": "比率 %", "lift vs control (points)": "相对对照组的提升（百分点）",
    "decision": "结论", "check: first draft": "检查：第一稿通过", "check: later draft": "检查：后续稿通过",
    "check: template": "检查：模板邮件", "P(segmented wins)": "分群胜出概率", "p (Holm-adjusted)": "p 值（Holm 校正）",
    "decision code": "结论代码", "Overall": "总体",
    "Experiment **{name}**, measured by {metric}.": "实验 **{name}**，指标：{metric}。",
    "**{segment}**: segmented emails got {seg} {metric} against {ctl} with the one-size-fits-all email ({n1:,} and "
    "{n0:,} recipients); {decision}": "**{segment}**：分群邮件的{metric}为 {seg}，统一邮件为 {ctl}（收件人 {n1:,} 和 {n0:,}）；{decision}",
    ", about {n:,} per arm needed": "，每组约需 {n:,} 人",
    "Every rate has its 95% interval in the table; a decision needs at least {n:,} recipients per arm.":
        "表中每个比率都有 95% 区间；作出判断每组至少需要 {n:,} 位收件人。",
    "{analysis} analysis, measure `{metric}`.": "{analysis} 分析，指标 `{metric}`。",
    "Experiment: none picked. Pick one from the list (ingest one first if the list is empty).":
        "实验：未选择。请从列表中选择一个（列表为空时先导入一个）。",
    # models
    "The app is serving release **{rev}**, loaded {at} in {s} s. It has {n} segment models and the baseline.":
        "应用正在使用版本 **{rev}**，于 {at} 加载，用时 {s} 秒。包含 {n} 个客群模型和基线模型。",
    "Releases on the Hub": "Hub 上的版本", "a release tag (v1, v2, ...)": "版本标签（v1、v2……）",
    "List releases": "列出版本", "Switch to this release…": "切换到这个版本…", "Yes, switch for everyone": "确定，为所有人切换",
    "Cancel": "取消", "Pinned artifacts": "固定的制品", "Show the release in use": "显示当前版本",
    "Switch from **{old}** to **{new}**? This applies to **everyone** using the app, from their next email on.":
        "从 **{old}** 切换到 **{new}**？这将对**所有**使用本应用的人生效，从他们的下一封邮件开始。",
    "Switched from {old} to {new} for everyone.": "已为所有人从 {old} 切换到 {new}。",
    "⚠️ **Releases on the Hub:** pick a release first.": "⚠️ **Hub 上的版本：** 请先选择一个版本。",
    "The Hub has no release yet: ask whoever runs the app to publish one.": "Hub 上还没有版本：请负责运行本应用的同事发布一个。",
    "none": "无",
    "**Release:** `{repo}` at `{rev}` → commit `{sha}`": "**版本：** `{repo}` 的 `{rev}` → 提交 `{sha}`",
    "**Base model:** `{id}@{rev}`": "**基础模型：** `{id}@{rev}`", "**Base model:** (pinned as an artifact)":
        "**基础模型：**（作为制品固定）",
    "**Strategies:** version {v}, sha256 `{sha}`": "**策略：** 版本 {v}，sha256 `{sha}`",
    "**Strategies:** packaged default": "**策略：** 内置默认", "**Adapters loaded:** {names}": "**已加载适配器：** {names}",
    # messages about a field
    "enter a number for {field}": "请为{field}输入一个数字", "{value} is not a number": "{value} 不是数字",
    "from {low} to {high}": "在 {low} 到 {high} 之间", "of at least {low}": "不小于 {low}",
    "of at most {high}": "不大于 {high}", "{value} is out of range": "{value} 超出范围",
    "enter a number {span}": "请输入{span}的数字", "{value} is not a whole number": "{value} 不是整数",
    "enter a whole number {span}": "请输入{span}的整数",
    "passed": "通过", "template email": "模板邮件",
    # strategy studio
    "Strategy studio": "策略工作室",
    "Edit a segment's strategy and try it on that segment's customers before anyone else sees it: the emails go "
    "through the same quality check, and the release in use does not change.":
        "编辑某个客群的策略，并先在该客群的客户身上试写：邮件经过同样的质量检查，当前版本不会改变。",
    "Never tell this segment (phrases, comma-separated)": "绝不能对该客群说的话（短语，用逗号分隔）",
    "Preview on this segment's customers": "在该客群的客户上预览", "Preview": "预览", "Change": "改动",
    "pick the segment whose strategy you edit": "请选择要编辑策略的客群",
    "Preview of **{segment}** on {n} of its customers; the release in use is unchanged.":
        "**{segment}** 在其 {n} 位客户上的预览；当前版本未改变。",
    "(nothing was changed)": "（未做任何改动）",
    # strategy studio: thresholds, save, retraining
    "Needs re-engagement after (days without a purchase)": "多少天未购买后需要唤回（天）",
    "Dormant after (days without a purchase)": "多少天未购买后算沉睡（天）",
    "{days} days is not fewer than the {dormant} days after which a customer is dormant":
        "{days} 天不少于客户算作沉睡的 {dormant} 天",
    "give fewer days here than for dormant customers": "这里的天数要少于沉睡客户的天数",
    "### Segment thresholds\nHow many days without a purchase move a customer from active to needing re-engagement, "
    "and on to dormant. Value tiers are learned from the customers' spending and have no threshold to set.":
        "### 客群阈值\n客户多少天未购买后从活跃变为需要唤回，再变为沉睡。价值层级由客户的消费自动学习得出，没有可设置的阈值。",
    "Count who would change segment": "统计会换客群的客户", "No loaded customer would change segment (of {total}).":
        "已加载的 {total} 位客户中没有人会换客群。",
    "**{n}** of the {total} loaded customers would change segment:": "已加载的 {total} 位客户中有 **{n}** 位会换客群：",
    "{n} from {before} to {after}": "{n} 位从{before}变为{after}",
    "With these thresholds no loaded customer stays in {segment}: its writing model could not be retrained.":
        "按这些阈值，已加载的客户中没有人留在{segment}：它的写作模型将无法重新训练。",
    "### Save\nSaving makes a new release version with these texts and thresholds. Nobody gets it until someone "
    "switches to it in the Models tab.": "### 保存\n保存会用这些文案和阈值生成一个新的版本。在有人于“模型”页切换到它之前，不会有人用到它。",
    "Your name": "你的名字", "who made this change": "是谁做的这次修改",
    "Save as a new release version": "保存为新版本", "Start retraining": "开始重新训练",
    "Cancel retraining": "取消重新训练", "Publish the retrained models as a new release": "把重新训练的模型发布为新版本",
    "write your name: it goes into the saved version's history": "请写上你的名字：它会记入所保存版本的历史",
    "Retraining": "重新训练", "there is nothing to retrain": "没有需要重新训练的内容", "save a change first": "请先保存一次修改",
    "save a change of a segment's voice or of the thresholds first": "请先保存对某个客群语气或对阈值的修改",
    "a retraining is still running": "还有一个重新训练在进行", "wait for it to finish, or cancel it": "请等它完成，或取消它",
    "no finished retraining to publish": "没有已完成的重新训练可以发布",
    "start the retraining and wait until it says it finished": "请开始重新训练，并等到它显示已完成",
    "the Hub did not let this app write (it has no token that may write to the release's repo)":
        "Hub 不允许本应用写入（它没有可写入版本仓库的令牌）",
    "ask whoever runs the app to give it write access to the Hub, then save again (nothing was saved)":
        "请负责运行本应用的同事为它开通 Hub 的写入权限，然后再保存一次（这次什么都没有保存）",
    "ask whoever runs the app to give it write access to the Hub, then publish again":
        "请负责运行本应用的同事为它开通 Hub 的写入权限，然后再发布一次",
    "the Hub could not be reached or refused the change": "无法连接 Hub，或 Hub 拒绝了这次修改",
    "save again (nothing was saved) in a minute; if it persists, ask whoever runs the app":
        "请过一分钟再保存（这次什么都没有保存）；如果仍然不行，请联系负责运行本应用的同事",
    "publish again in a minute; if it persists, ask whoever runs the app":
        "请过一分钟再发布；如果仍然不行，请联系负责运行本应用的同事",
    "Save": "保存", "nothing was changed": "没有任何改动", "edit a strategy text or a segment threshold, then save":
        "请先修改策略文案或客群阈值，再保存",
    "Saved as release {tag}.": "已保存为版本 {tag}。", "Cancelling the retraining…": "正在取消重新训练……",
    "✅ Saved by **{editor}** as release **{tag}**, made from release **{parent}**. The app still serves **{live}**: "
    "switch to **{tag}** in the Models tab when you are ready (it applies to everyone).":
        "✅ **{editor}** 已保存为版本 **{tag}**（基于版本 **{parent}**）。应用仍在使用 **{live}**：准备好后在“模型”页切换到 "
        "**{tag}**（这将对所有人生效）。",
    "Nothing needs retraining: these changes are read when each email is written and checked.":
        "无需重新训练：这些改动会在每封邮件撰写和检查时读取。",
    "the writing model of **{segment}** (its voice changed)": "**{segment}** 的写作模型（它的语气变了）",
    "the model that sorts customers into segments (the thresholds changed)": "给客户分群的模型（阈值变了）",
    "Needs retraining: {parts}.": "需要重新训练：{parts}。", " and ": "和",
    "Until it is retrained, **{tag}** uses the current models with the new texts and thresholds; every email still "
    "goes through the quality check.": "在重新训练之前，**{tag}** 用现有模型配合新的文案和阈值；每封邮件仍经过质量检查。",
    "preparing the customers to learn from": "准备用于学习的客户",
    "retraining the model that sorts customers into segments": "重新训练给客户分群的模型",
    "writing example emails in the new voice": "用新语气撰写示例邮件",
    "retraining the segment's writing model": "重新训练该客群的写作模型",
    "⏳ Retraining for release **{tag}**: step {i} of {n}, {step} ({s} s so far). The app keeps serving **{live}** "
    "meanwhile.": "⏳ 正在为版本 **{tag}** 重新训练：第 {i} 步，共 {n} 步，{step}（已用 {s} 秒）。在此期间应用继续使用 **{live}**。",
    "✅ Published the retrained models as release **{new}**. Switch to it in the Models tab when you are ready.":
        "✅ 已把重新训练的模型发布为版本 **{new}**。准备好后在“模型”页切换到它。",
    "✅ Retraining for release **{tag}** finished in {s} s. Nobody uses the new models yet: publish them as a new "
    "release, then switch to it in the Models tab.":
        "✅ 版本 **{tag}** 的重新训练已完成，用时 {s} 秒。还没有人使用新模型：请把它们发布为新版本，再在“模型”页切换过去。",
    "Retraining for release **{tag}** was cancelled; nothing was published.": "版本 **{tag}** 的重新训练已取消；没有发布任何内容。",
    "⚠️ Retraining for release **{tag}** stopped while {step}. The release in use is unchanged; ask whoever runs the "
    "app to look at the retraining's log.":
        "⚠️ 版本 **{tag}** 的重新训练在{step}时停止。当前版本未改变；请负责运行本应用的同事查看重新训练的日志。",
    "⚠️ Retraining for release **{tag}** was interrupted at step {i} of {n}, {step}: the app restarted meanwhile. "
    "Nothing was published and the release in use is unchanged. Start it again to go on from that step.":
        "⚠️ 版本 **{tag}** 的重新训练在第 {i} 步（共 {n} 步，{step}）时中断：期间应用重启了。没有发布任何内容，当前版本未改变。"
        "重新开始它，就会从这一步继续。",
    "Start the interrupted retraining again": "重新开始被中断的重新训练",
    "no interrupted retraining to start again": "没有被中断、可以重新开始的重新训练",
    "start a new retraining after saving a change": "请保存一次修改后开始新的重新训练",
}
